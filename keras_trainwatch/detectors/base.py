"""What every detector is, and the one way they make findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from keras_trainwatch.findings import Finding, FindingKind
from keras_trainwatch.records import ProbeRecord


class Detector(Protocol):
    """A rule that turns a probe's statistics into findings.

    Attributes:
        kind: The kind of finding it makes.
        history_size: How many earlier records it reads (0: only the
            current one). The watch keeps no more than the largest of these.
    """

    kind: FindingKind
    history_size: int

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]: ...


def make_finding(kind, record, layer, value, threshold, message, remedy=""):
    """A `Finding` of `kind` at the probe of `record`."""
    return Finding(
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
