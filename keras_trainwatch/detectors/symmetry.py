"""The symmetry rule: layers whose units are all identical and get
identical gradients, so they can never become different."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import SYMMETRIC_UNITS, Finding
from keras_trainwatch.records import ProbeRecord

# Relative spread under which units count as identical: float32 rounding of
# the same computation is far below it, any random initialization far above.
MAX_SPREAD = 1e-6


class SymmetricUnitsDetector:
    """Finds Dense/convolution layers whose units are all the same.

    A constant initializer (`"zeros"`, `"ones"`, `Constant(c)`) gives every
    unit of a layer the same weights. If the gradients that reach them are
    also the same, every update keeps them equal: the layer behaves as one
    unit, however wide. Units that start equal but get different gradients
    (a zero-initialized output layer, whose classes get different errors) are
    not flagged: they separate at the first step.

    Example:

    ```python
    findings = SymmetricUnitsDetector()(record, recent=[])
    ```
    """

    kinds = (SYMMETRIC_UNITS,)
    history_size = 0

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        return [
            make_finding(
                SYMMETRIC_UNITS,
                record,
                stats.name,
                max(stats.weight_spread, stats.grad_spread),
                MAX_SPREAD,
                f"Identical units in layer '{stats.name}': all {stats.units} "
                "units have the same weights and get the same gradient "
                f"(relative spread {stats.weight_spread:.1g} and "
                f"{stats.grad_spread:.1g}, identical under {MAX_SPREAD:g}), "
                "so they stay identical and the layer works as one unit.",
                measure="relative spread of the units",
            )
            for stats in record.unit_spread
            if stats.weight_spread <= MAX_SPREAD
            and stats.grad_spread <= MAX_SPREAD
        ]
