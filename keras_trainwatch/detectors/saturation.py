"""The saturation rule: hidden sigmoid/tanh layers whose outputs sit in the
flat tails, where almost no gradient passes."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch._validation import real_in_range
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import SATURATED_UNITS, Finding
from keras_trainwatch.records import ProbeRecord


class SaturationDetector:
    """Finds hidden sigmoid/tanh layers whose outputs are mostly saturated.

    An output below 0.01 or above 0.99 (sigmoid), or beyond +-0.99 (tanh),
    passes less than 2% of the gradient the activation passes at 0. When
    most of a layer's outputs are there, the layers below it get almost
    nothing: the mechanism behind vanishing gradients in sigmoid networks,
    and the usual fate of unscaled inputs or large initial weights. Model
    outputs and gates (outputs that only multiply other tensors) are not
    measured: they are meant to reach 0 or 1.

    Args:
        max_saturated: Float in (0, 1], default 0.5. A layer is flagged when
            at least this share of its outputs (over the probe batch's
            samples, positions and units) is saturated. At Glorot
            initialization on standardized inputs a tanh layer has about 1%
            of its outputs there; see the README's "Other failures" table
            for the largest share among healthy runs.

    Example:

    ```python
    findings = SaturationDetector(max_saturated=0.5)(record, recent=[])
    ```
    """

    kind = SATURATED_UNITS
    history_size = 0

    def __init__(self, max_saturated: float = 0.5):
        self.max_saturated = real_in_range(
            "max_saturated", max_saturated, 0.0, 1.0, low_open=True
        )

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        return [
            make_finding(
                self.kind,
                record,
                stats.name,
                stats.saturated,
                self.max_saturated,
                f"Saturated {stats.activation} units in layer "
                f"'{stats.name}': {stats.saturated:.0%} of its outputs on the "
                "probe batch sit in the flat tails, where the derivative is "
                "under 2% of its peak (flagged from "
                f"{self.max_saturated:.0%}); the layers below get almost no "
                "gradient through it.",
            )
            for stats in record.saturation
            if stats.saturated >= self.max_saturated
        ]
