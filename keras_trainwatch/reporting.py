"""Keeping findings once each, and acting on the new ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Union

import keras

from keras_trainwatch.findings import Finding

LOGGER = logging.getLogger("keras_trainwatch")

ON_FINDING_MODES = ("warn", "stop", "raise")

OnFinding = Union[str, Callable[[Finding], object]]


class TrainingPathologyError(RuntimeError):
    """Raised by `GradientWatch(on_finding="raise")` when a pathology is found.

    Args:
        finding: The `Finding` that stopped training.
    """

    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


class FindingLedger:
    """The findings of a run, each kept once.

    A finding whose `key` (kind, layer) was seen before updates the earlier
    record instead of being added again.

    Example:

    ```python
    ledger = FindingLedger()
    new = ledger.add(detector(record, history))
    ```
    """

    def __init__(self):
        self.findings: list[Finding] = []
        self._position: dict[tuple[str, str], int] = {}

    def add(self, findings: Iterable[Finding]) -> list[Finding]:
        """Records findings from one probe.

        Args:
            findings: What the detectors found at this probe.

        Returns:
            The findings not seen before, in order.
        """
        new = []
        for finding in findings:
            position = self._position.get(finding.key)
            if position is None:
                self._position[finding.key] = len(self.findings)
                self.findings.append(finding)
                new.append(finding)
            else:
                earlier = self.findings[position]
                self.findings[position] = earlier.seen_again(finding)
        return new


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
    raise ValueError(
        "Invalid value received for argument `on_finding`. Expected one of "
        f"{ON_FINDING_MODES} or a callable taking a Finding. "
        f"Received: on_finding={on_finding!r}"
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
