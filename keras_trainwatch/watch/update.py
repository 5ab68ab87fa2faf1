"""What the watch hands to the code that subscribes to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras_trainwatch.findings import Finding
from keras_trainwatch.records import ProbeRecord
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter
from keras_trainwatch.watch.ledger import LedgerUpdate


@dataclasses.dataclass(frozen=True)
class WatchUpdate:
    """One check of the watch: a probe, or the per-step losses read between
    probes.

    Args:
        epoch: The 0-based epoch of the check.
        step: The global training step of the check.
        findings: How the check changed the findings (new, returned,
            lasting, resolved): a `LedgerUpdate`.
        record: The probe's record, or `None` for a check of the per-step
            losses (which resolves nothing).
        writer: The run's TensorBoard writer, or `None` when the watch
            writes no summaries; other callbacks add to the same run
            through it.
    """

    epoch: int
    step: int
    findings: LedgerUpdate
    record: ProbeRecord | None = None
    writer: ProbeSummaryWriter | None = None

    @property
    def present(self) -> list[Finding]:
        """Every finding the check showed (new, returned and lasting)."""
        return self.findings.present


Listener = Callable[[WatchUpdate], None]
