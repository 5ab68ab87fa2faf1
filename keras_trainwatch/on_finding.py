"""What the watch does with a new finding: warn, stop, raise, or call the
user's function."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Union

import keras

from keras_trainwatch._validation import invalid
from keras_trainwatch.findings import Finding

LOGGER = logging.getLogger("keras_trainwatch")

ON_FINDING_MODES = ("warn", "stop", "raise")

OnFinding = Union[Literal["warn", "stop", "raise"], Callable[[Finding], object]]


class TrainingPathologyError(RuntimeError):
    """Raised by `GradientWatch(on_finding="raise")` when a pathology is found.

    Args:
        finding: The `Finding` that stopped training.
    """

    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


def check_on_finding(on_finding: OnFinding) -> OnFinding:
    """Validates the `on_finding` argument.

    Args:
        on_finding: `"warn"`, `"stop"`, `"raise"` or a callable taking a
            `Finding`.

    Returns:
        `on_finding` unchanged.

    Raises:
        ValueError: For an unknown mode or a value of another type.
    """
    if callable(on_finding) or on_finding in ON_FINDING_MODES:
        return on_finding
    raise invalid(
        "on_finding",
        f"one of {ON_FINDING_MODES} or a callable taking a Finding",
        on_finding,
    )


def act_on(finding: Finding, on_finding: OnFinding, model: keras.Model) -> None:
    """Reports a new finding the way the user asked.

    Args:
        finding: A finding not reported before.
        on_finding: A value accepted by `check_on_finding`.
        model: The model being trained (`"stop"` sets its `stop_training`).

    Raises:
        TrainingPathologyError: When `on_finding="raise"`.
    """
    if callable(on_finding):
        on_finding(finding)
        return
    where = f"[epoch {finding.epoch}, step {finding.step}]"
    if on_finding == "raise":
        raise TrainingPathologyError(finding)
    LOGGER.warning("%s %s", where, finding)
    if on_finding == "stop":
        LOGGER.warning("%s GradientWatch is stopping training.", where)
        model.stop_training = True


def report_changes(returned, resolved, on_finding: OnFinding) -> None:
    """Logs, in the `"warn"` and `"stop"` modes, the findings a probe
    resolved or brought back (a callable is told about new findings only).

    Args:
        returned: Resolved findings that came back.
        resolved: Findings that the probe no longer showed.
        on_finding: A value accepted by `check_on_finding`.
    """
    if callable(on_finding) or on_finding == "raise":
        return
    for finding in resolved:
        LOGGER.warning(
            "[epoch %d, step %d] Resolved: %s in %s (found at step %d, seen "
            "at %d probe(s)).",
            finding.resolved_epoch,
            finding.resolved_step,
            finding.kind.replace("_", " "),
            finding.where,
            finding.step,
            finding.occurrences,
        )
    for finding in returned:
        LOGGER.warning(
            "[epoch %d, step %d] Back again (episode %d): %s",
            finding.last_epoch,
            finding.last_step,
            finding.episodes,
            finding,
        )
