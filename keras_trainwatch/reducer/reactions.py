"""Which findings call for a lower learning rate now: pure bookkeeping of
what the reducer already acted on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keras_trainwatch.detectors.dead_relu import UNRECOVERABLE_DEAD_SHARE
from keras_trainwatch.findings import (
    DEAD_RELU,
    LOSS_SPIKE,
    NO_GRADIENT,
    Finding,
    FindingKind,
)


class FindingReactions:
    """Decides which of the findings present at a probe the reducer should
    act on, and remembers what it acted on.

    New findings of the kinds in `react_to` call for action; so do lasting
    ones that got worse since the last reduction for them (a larger gradient
    norm or growth, more dead units), and loss spikes once per
    episode (the spikes between two probes are one). A pathology that stays as it is after a reduction is not helped
    by the next one: `benchmarks/rescue.py` measured runs frozen by 19
    reductions of a rate that was no longer the cause.

    Args:
        react_to: The finding kinds to act on.

    Example:

    ```python
    reactions = FindingReactions(("exploding_gradients",))
    due = reactions.due(watch.active_findings)
    if due and lower_the_rate():
        reactions.acted_on(due)
    ```
    """

    def __init__(self, react_to: Sequence[str]):
        self.react_to = tuple(react_to)
        self.reset()

    def reset(self) -> None:
        """Forgets what was acted on (a new `fit`)."""
        self._acted: dict = {}

    def due(
        self, present: Iterable[Finding], rolled_back_at: int | None = None
    ) -> list[Finding]:
        """The findings among `present` that call for action now.

        Args:
            present: The findings the latest probe showed.
            rolled_back_at: The step of the latest rollback: spikes at or
                before it were undone by it.
        """
        result = []
        for finding in present:
            if finding.kind not in self.react_to:
                continue
            if (
                finding.kind == LOSS_SPIKE
                and rolled_back_at is not None
                and finding.last_step <= rolled_back_at
            ):
                continue
            acted = self._acted.get(finding.key)
            if acted is None:
                result.append(finding)
            elif finding.kind == LOSS_SPIKE:
                # Once per episode: the spikes between two probes are one
                # blow-up (read step by step in a run's first steps, each
                # would otherwise lower the rate again, to nothing).
                if finding.episodes != acted[0]:
                    result.append(finding)
            elif _worse(finding.last_value, acted[1]):
                result.append(finding)
        return result

    def acted_on(self, findings: Iterable[Finding]) -> None:
        """Remembers the findings just acted on, as they are now."""
        for finding in findings:
            self._acted[finding.key] = (finding.episodes, finding.last_value)


def _worse(value, before) -> bool:
    """Whether `value` is larger than `before` (nothing measured: never)."""
    return value is not None and before is not None and value > before


def unrecoverable(
    present: Iterable[Finding], rolled_back_at: int | None = None
) -> list[Finding]:
    """The findings among `present` that the current weights cannot train
    on, whatever the rate: most units of a layer dead, or no gradient
    reaching any weight. Those seen last at or before `rolled_back_at` were
    undone by that rollback.

    Args:
        present: The findings the latest check showed.
        rolled_back_at: The step of the latest rollback, or `None`.

    Returns:
        The unrecoverable findings, in order.
    """
    return [
        f
        for f in present
        if (
            (f.kind == DEAD_RELU and f.last_value >= UNRECOVERABLE_DEAD_SHARE)
            or f.kind == NO_GRADIENT
        )
        and (rolled_back_at is None or f.last_step > rolled_back_at)
    ]


def reason_for(findings: Sequence[Finding], step: int) -> str:
    """The reason of a reduction, naming the first finding."""
    first = findings[0]
    where = "the loss" if first.layer is None else f"layer {first.layer}"
    reason = f"{FindingKind(first.kind).title} in {where}"
    if first.step != step:
        reason += f", present since step {first.step}"
    if len(findings) > 1:
        reason += f" (and {len(findings) - 1} more finding(s))"
    return reason
