"""The dead-ReLU rule: ReLU layers where a large share of units output 0 for
every input."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch._validation import real_in_range
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import DEAD_RELU, Finding
from keras_trainwatch.records import ACTIVATIONS, ProbeRecord

# A layer this dead does not come back at a lower rate: the weights that
# killed its units are still there (the keras.io convnet at SGD 5.0 stays at
# chance after the rate is lowered; tests/test_rollback_on_damage.py).
UNRECOVERABLE_DEAD_SHARE = 0.9


class DeadReluDetector:
    """Finds ReLU layers where a large share of the units are dead.

    A unit is dead on the probe batch when it outputs 0 for every sample
    (and, for convolutions, every position): no gradient flows through it,
    so it may never recover.

    Args:
        max_dead_fraction: Float in (0, 1], default 0.5. A layer is flagged
            when at least this share of its units is dead (the healthy
            runs' worst share is in docs/benchmarks/pathology_suite.md).

    Example:

    ```python
    detector = DeadReluDetector(max_dead_fraction=0.3)
    findings = detector(record, recent=[])
    ```
    """

    kinds = (DEAD_RELU,)
    history_size = 0

    def __init__(self, max_dead_fraction: float = 0.5):
        self.max_dead_fraction = real_in_range(
            "max_dead_fraction", max_dead_fraction, 0.0, 1.0, low_open=True
        )

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        findings = []
        for stats in record.dead_units:
            fraction = stats.dead_fraction
            if stats.units and fraction >= self.max_dead_fraction:
                how = (
                    "output 0 for every sample of the probe batch"
                    if stats.source == ACTIVATIONS
                    else "get exactly zero gradient on their weights and bias"
                )
                findings.append(
                    make_finding(
                        DEAD_RELU,
                        record,
                        stats.name,
                        fraction,
                        self.max_dead_fraction,
                        f"Dead ReLU units in layer '{stats.name}': "
                        f"{stats.dead_units} of {stats.units} units "
                        f"({fraction:.0%}) {how} (threshold "
                        f"{self.max_dead_fraction:.0%})."
                        + _permanent(fraction),
                        measure="dead share of units",
                    )
                )
        return findings


def _permanent(fraction: float) -> str:
    if fraction < UNRECOVERABLE_DEAD_SHARE:
        return ""
    return (
        " Units this dead do not come back at a lower rate (the weights that "
        "killed them stay): AutoLRReducer (its rollback is on by default) "
        "returns to the last healthy weights, and on_finding='stop' ends the "
        "run."
    )
