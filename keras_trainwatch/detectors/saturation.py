"""The saturation rule: hidden sigmoid/tanh layers whose outputs sit in the
flat tails, where almost no gradient passes, when that costs learning."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch._validation import real_in_range
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import SATURATED_UNITS, Finding
from keras_trainwatch.records import ProbeRecord, SaturationStats

# A saturated output passes under 2% of the activation's peak derivative, so
# a layer with a share s of its outputs saturated passes at most
# 1 - 0.98 s of the gradient it would pass unsaturated.
TAIL_DERIVATIVE = 0.02
# Saturation costs learning by itself when at most this share of the
# gradient can pass the layer (from about 92% of its outputs saturated).
MAX_PASSING = 0.1


class SaturationDetector:
    """Finds hidden sigmoid/tanh layers whose outputs are mostly saturated
    *and* whose saturation costs learning.

    An output below 0.01 or above 0.99 (sigmoid), or beyond +-0.99 (tanh),
    passes less than 2% of the gradient the activation passes at 0. When
    most of a layer's outputs are there, the layers below it may get almost
    nothing: the mechanism behind vanishing gradients in sigmoid networks,
    and the usual fate of unscaled inputs or large initial weights. But a
    saturated layer is no fault on its own: tanh networks on unscaled inputs
    often have half their first layer's outputs in the tails and still learn
    as well as their scaled twins. So a layer is flagged only with a cost:
    here, when so many of its outputs are saturated that at most 10% of the
    gradient can pass it (about 92% of them: the layers below it, and its
    own weights, then learn at a tenth of their pace at most); the
    `DetectorSuite` also reports a layer past `max_saturated` next to the
    symptoms it explains, a loss that is not improving or gradients that
    vanish. Model outputs and gates (outputs that only multiply other
    tensors) are not measured: they are meant to reach 0 or 1.

    Args:
        max_saturated: Float in (0, 1], default 0.5. A layer is a candidate
            when at least this share of its outputs (over the probe batch's
            samples, positions and units) is saturated. At Glorot
            initialization on standardized inputs a tanh layer has about 1%
            of its outputs there; see `benchmarks/long_runs.py` for the
            shares in runs that learn.

    Example:

    ```python
    findings = SaturationDetector(max_saturated=0.5)(record, recent=[])
    ```
    """

    kinds = (SATURATED_UNITS,)
    history_size = 0

    def __init__(self, max_saturated: float = 0.5):
        self.max_saturated = real_in_range(
            "max_saturated", max_saturated, 0.0, 1.0, low_open=True
        )

    def saturated(self, record: ProbeRecord) -> list[SaturationStats]:
        """The layers of `record` saturated beyond `max_saturated`."""
        return [
            stats
            for stats in record.saturation
            if stats.saturated >= self.max_saturated
        ]

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        found = []
        for stats in self.saturated(record):
            passing = passing_share(stats.saturated)
            if passing <= MAX_PASSING:
                found.append(
                    self.finding(
                        record,
                        stats,
                        f"at most {passing:.0%} of the gradient passes it "
                        f"(flagged at {MAX_PASSING:.0%} or less)",
                    )
                )
        return found

    def finding(
        self, record: ProbeRecord, stats: SaturationStats, cost: str
    ) -> Finding:
        """The finding for the saturated layer of `stats`, whose saturation
        costs what `cost` says."""
        return make_finding(
            SATURATED_UNITS,
            record,
            stats.name,
            stats.saturated,
            self.max_saturated,
            f"Saturated {stats.activation} units in layer "
            f"'{stats.name}': {stats.saturated:.0%} of its outputs on the "
            "probe batch sit in the flat tails, where the derivative is "
            "under 2% of its peak (flagged from "
            f"{self.max_saturated:.0%}), and it costs learning: {cost}.",
            measure="share of outputs in the tails",
        )


def passing_share(saturated: float) -> float:
    """The most of the gradient a layer passes with a share `saturated` of
    its outputs in the flat tails (relative to passing it unsaturated)."""
    return 1.0 - (1.0 - TAIL_DERIVATIVE) * saturated
