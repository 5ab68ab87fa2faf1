"""What each kind of rule is (pure per-probe detectors, loss-course rules,
per-step rules, model checks), and the one way they make findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from keras_trainwatch.findings import Finding, FindingKind
from keras_trainwatch.records import ProbeRecord


class Detector(Protocol):
    """A pure rule on the probe's statistics: the findings of a probe come
    from its record and the earlier ones alone.

    Attributes:
        kinds: The kinds of finding it makes.
        history_size: How many earlier records it reads (0: only the
            current one). The watch keeps no more than the largest of these.
    """

    kinds: tuple[FindingKind, ...]
    history_size: int

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]: ...


class LossCourseRule(Protocol):
    """A rule on the course of the epoch losses: it is told each epoch's
    loss (keeping a bounded window of them) and judged at each probe.

    Attributes:
        kinds: The kinds of finding it makes.
    """

    kinds: tuple[FindingKind, ...]

    def reset(self) -> None: ...

    def start_fit(self, planned_epochs: int | None) -> None: ...

    def observe(self, loss: float | None) -> None: ...

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]: ...


class StepRule(Protocol):
    """A rule on a per-step value (the training loss), fed every step in
    order, with a bounded window of state.

    Attributes:
        kinds: The kinds of finding it makes.
    """

    kinds: tuple[FindingKind, ...]

    def reset(self) -> None: ...

    def update(self, epoch: int, step: int, value: float) -> list[Finding]: ...


class ModelCheck(Protocol):
    """Checks of the model's construction, computed once for a model (and
    its probe batch's targets) and reported at every probe while the model
    stays built so.

    Attributes:
        kinds: The kinds of finding it makes.
    """

    kinds: tuple[FindingKind, ...]

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]: ...


def make_finding(
    kind, record, layer, value, threshold, message, remedy="", *, measure
):
    """A `Finding` of `kind` at the probe of `record`; `measure` says what
    `value` and `threshold` are."""
    return Finding(
        measure=measure,
        kind=kind,
        layer=layer,
        epoch=record.epoch,
        step=record.step,
        value=value,
        threshold=threshold,
        message=message,
        remedy=remedy,
    )


def probes(count: int) -> str:
    """`"probe"` or `"<count> probes"`."""
    return "probe" if count == 1 else f"{count} probes"
