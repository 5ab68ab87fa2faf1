"""What the watch does with a new finding: warn, stop, raise, or call the
user's function."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Literal

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._validation import invalid
from keras_trainwatch.findings import Finding, FindingKind

LOGGER = logging.getLogger("keras_trainwatch")

ON_FINDING_MODES = ("warn", "stop", "raise")

OnFinding = Literal["warn", "stop", "raise"] | Callable[[Finding], object]


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


def drawing_progress_bar(params: dict | None) -> bool:
    """Whether Keras's progress bar has a line open now: `verbose=1`, or
    `"auto"` (the default), which Keras's `ProgbarLogger` draws as 1, while
    Keras prints to stdout (not through absl logging). Whether stdout is a
    terminal, a notebook, a pipe or a file does not matter: the bar leaves
    its line open between steps in each (on POSIX it redraws with `\\r`
    even into a file).

    Args:
        params: The callback's `params` (from `fit`).
    """
    verbose = (params or {}).get("verbose")
    return (
        verbose in (1, "auto") and keras.config.is_interactive_logging_enabled()
    )


class ProgressLine:
    """Ends the line Keras's progress bar is drawing, once per training
    step: what the watch and the reducer print at one step follows one line
    break, not one each (the bar redraws only after the step's callbacks).
    """

    def __init__(self):
        self._ended_at: int | None = None

    def end(self, step: int | None) -> None:
        """Ends the bar's line, unless it was ended at this step already."""
        if step is None or step != self._ended_at:
            _keras_compat.print_msg("")
        self._ended_at = step

    def reset(self) -> None:
        """Forgets the last step (a new `fit` draws a new bar)."""
        self._ended_at = None


PROGRESS_LINE = ProgressLine()


def report_new(
    findings: list[Finding],
    on_finding: OnFinding,
    model: keras.Model,
    after_progress_bar: int | None = None,
) -> None:
    """Reports the new findings of one check the way the user asked: a
    callable gets each finding; `"raise"` raises for the first; `"warn"` and
    `"stop"` log one line per kind, naming every layer it was found in.

    Args:
        findings: New findings of one probe (or one spike check).
        on_finding: A value accepted by `check_on_finding`.
        model: The model being trained.
        after_progress_bar: The training step, while Keras's progress bar
            has a line open (else `None`): the line is ended first (once per
            step), so that a finding never shares a line with it.
    """
    if not findings:
        return
    if callable(on_finding) or on_finding == "raise":
        for finding in findings:
            act_on(finding, on_finding, model)
        return
    if after_progress_bar is not None:
        PROGRESS_LINE.end(after_progress_bar)
    # Findings about a layer are grouped by kind; a model-wide one (about
    # the loss, the targets) has a message of its own.
    groups: dict[tuple, list[Finding]] = {}
    for i, finding in enumerate(findings):
        key = (finding.kind,) if finding.layer is not None else (i,)
        groups.setdefault(key, []).append(finding)
    for group in groups.values():
        act_on(_grouped(group), on_finding, model)


def _grouped(findings: list[Finding]) -> Finding:
    """One finding standing for several of one kind: the first (nearest the
    input) with the other layers named in its message."""
    first = findings[0]
    if len(findings) == 1:
        return first
    others = [f.layer for f in findings[1:]]
    shown = ", ".join(others[:8]) + (", ..." if len(others) > 8 else "")
    return dataclasses.replace(
        first,
        message=f"{first.message} Also in {len(others)} more layer(s): {shown}.",
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
    where = f"[epoch {finding.epoch + 1}, step {finding.step}]"
    if on_finding == "raise":
        raise TrainingPathologyError(finding)
    LOGGER.warning("%s %s", where, finding)
    if on_finding == "stop":
        LOGGER.warning("%s GradientWatch is stopping training.", where)
        model.stop_training = True


def report_changes(
    returned, resolved, on_finding: OnFinding, after_progress_bar=None
) -> None:
    """Logs, in the `"warn"` and `"stop"` modes, the findings a probe
    resolved or brought back (a callable is told about new findings only).

    Args:
        returned: Resolved findings that came back.
        resolved: Findings that the probe no longer showed.
        on_finding: A value accepted by `check_on_finding`.
        after_progress_bar: The training step, while Keras's progress bar
            has a line open (else `None`; see `report_new`).
    """
    if callable(on_finding) or on_finding == "raise":
        return
    if after_progress_bar is not None and (returned or resolved):
        PROGRESS_LINE.end(after_progress_bar)
    for finding in resolved:
        LOGGER.warning(
            # Checks: probes, and for loss spikes the reads of the step
            # losses between them.
            "[epoch %d, step %d] Resolved: %s%s (found at step %d, seen at "
            "%d check(s)).",
            finding.resolved_epoch + 1,
            finding.resolved_step,
            FindingKind(finding.kind).title,
            "" if finding.layer is None else f" in {finding.where}",
            finding.step,
            finding.occurrences,
        )
    for finding in returned:
        LOGGER.warning(
            "[epoch %d, step %d] Back again (episode %d): %s",
            finding.last_epoch + 1,
            finding.last_step,
            finding.episodes,
            finding,
        )
