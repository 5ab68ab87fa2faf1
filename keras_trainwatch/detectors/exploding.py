"""The exploding-gradient rule: gradients that are non-finite, huge, or
growing by orders of magnitude."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_trainwatch._validation import open_range, positive_int
from keras_trainwatch.detectors.base import make_finding, probes
from keras_trainwatch.findings import EXPLODING_GRADIENTS, Finding
from keras_trainwatch.records import ProbeRecord


class ExplodingGradientDetector:
    """Finds gradients that are non-finite, huge, or growing by orders of
    magnitude.

    Three rules, in order:

    1. Any non-finite gradient entry or a non-finite loss: one finding, in
       the lowest layer with non-finite gradients.
    2. A layer's gradient norm above `max_grad_norm`.
    3. A layer's gradient norm that grew by `max_growth` or more over the
       last `growth_window` probes and is at least `growth_min_norm`, while
       the probe loss is no lower than at the probe it grew from: this is
       the rule that warns while the loss is still finite. (Gradients that
       grow while the loss falls are a network starting to learn, as a
       masked BiLSTM does in the real-model benchmark: 100x to 27 in 5
       probes, its held-out loss 2.29 -> 2.15.)

    Args:
        max_grad_norm: Positive float, default 1e3, far above what healthy
            networks with normalized inputs and targets reach
            (docs/benchmarks/pathology_suite.md). Raise it for unnormalized
            regression targets.
        max_growth: Float > 1, default 100 (two orders of magnitude) over
            `growth_window` probes.
        growth_window: Int >= 1, default 5. How many earlier probes the
            growth is measured against (from their smallest norm).
        growth_min_norm: Positive float, default 10. Growth only counts once
            the norm is this large, so that a layer waking up from a tiny
            gradient (e.g. after zero initialization above it) is not
            flagged.

    Example:

    ```python
    detector = ExplodingGradientDetector(max_grad_norm=1e4)
    findings = detector(record, recent=earlier_records)
    ```
    """

    kinds = (EXPLODING_GRADIENTS,)

    @property
    def history_size(self) -> int:
        """The growth rule reads the last `growth_window` records."""
        return self.growth_window

    def __init__(
        self,
        max_grad_norm: float = 1e3,
        max_growth: float = 100.0,
        growth_window: int = 5,
        growth_min_norm: float = 10.0,
    ):
        self.max_grad_norm = open_range(
            "max_grad_norm", max_grad_norm, 0.0, math.inf
        )
        self.max_growth = open_range("max_growth", max_growth, 1.0, math.inf)
        self.growth_window = positive_int("growth_window", growth_window)
        self.growth_min_norm = open_range(
            "growth_min_norm", growth_min_norm, 0.0, math.inf
        )

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        nonfinite = self._nonfinite(record)
        if nonfinite is not None:
            return [nonfinite]
        findings = []
        window = list(recent[-self.growth_window :])
        recent_norms = [
            {
                layer.name: (layer.grad_norm, earlier.loss)
                for layer in earlier.layers
            }
            for earlier in window
        ]
        for layer in record.layers:
            norm = layer.grad_norm
            scaled = _per_input_scale(layer, record)
            if scaled > self.max_grad_norm:
                evidence = (
                    f"gradient norm {norm:.3g} exceeds {self.max_grad_norm:g}"
                )
                if scaled != norm:
                    evidence = (
                        f"gradient norm {norm:.3g}, {scaled:.3g} per unit of "
                        f"input scale (RMS {record.input_scale:.3g}), exceeds "
                        f"{self.max_grad_norm:g}"
                    )
                findings.append(
                    self._finding(
                        record,
                        layer.name,
                        scaled,
                        self.max_grad_norm,
                        evidence + ".",
                        "gradient norm"
                        if scaled == norm
                        else "gradient norm per unit of input RMS",
                    )
                )
                continue
            earlier = [
                norms[layer.name]
                for norms in recent_norms
                if layer.name in norms
            ]
            earlier = [
                (n, loss) for n, loss in earlier if math.isfinite(n) and n > 0
            ]
            if not earlier or norm < self.growth_min_norm:
                continue
            smallest, loss_then = min(earlier)
            growth = norm / smallest
            if growth >= self.max_growth and not record.loss < loss_then:
                findings.append(
                    self._finding(
                        record,
                        layer.name,
                        growth,
                        self.max_growth,
                        f"gradient norm grew {growth:.3g}x to {norm:.3g} "
                        f"over the last {probes(len(recent_norms))}.",
                        "growth of the gradient norm",
                    )
                )
        return findings

    def _nonfinite(self, record):
        bad_layers = [layer for layer in record.layers if layer.nonfinite]
        if bad_layers:
            lowest = bad_layers[0]
            return self._finding(
                record,
                lowest.name,
                float(lowest.nonfinite),
                0.0,
                f"{lowest.nonfinite} non-finite gradient entries "
                f"({len(bad_layers)} of {len(record.layers)} layers affected; "
                f"probe loss {record.loss:.4g}).",
                "non-finite gradient entries",
            )
        if not math.isfinite(record.loss):
            return self._finding(
                record,
                None,
                record.loss,
                0.0,
                f"the probe loss is {record.loss}.",
                "probe loss",
            )
        return None

    def _finding(self, record, layer, value, threshold, evidence, measure):
        where = "the loss" if layer is None else f"layer '{layer}'"
        return make_finding(
            EXPLODING_GRADIENTS,
            record,
            layer,
            value,
            threshold,
            f"Exploding gradients in {where}: {evidence}",
            measure=measure,
        )


def _per_input_scale(layer, record):
    """The layer's gradient norm, divided by the inputs' scale when it reads
    the model's inputs directly: its kernel gradient is the inputs times the
    error, so inputs on a 0-255 scale make it 100x larger without anything
    exploding."""
    if layer.reads_input and record.input_scale > 1.0:
        return layer.grad_norm / record.input_scale
    return layer.grad_norm
