"""The vanishing-gradient rule: lower layers (and early steps of recurrent
layers) whose gradients have shrunk toward 0."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_trainwatch._validation import open_range
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import (
    GATED_RECURRENT_VANISHING_REMEDY,
    RECURRENT_VANISHING_REMEDY,
    REMEDIES,
    UNSATURATED_VANISHING_REMEDY,
    VANISHING_GRADIENTS,
    Finding,
)
from keras_trainwatch.records import ProbeRecord

# Fewer steps than this and "early" and "late" overlap too much to compare.
MIN_RECURRENT_STEPS = 20

# Activations whose flat tails shrink the gradients passing through them.
SATURATING_ACTIVATIONS = frozenset(
    {"sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh", "log_sigmoid"}
)


class VanishingGradientDetector:
    """Finds lower layers whose gradients have shrunk toward 0.

    A layer is flagged when its relative gradient |g|/|w| (the size of an
    SGD step per unit of learning rate, relative to the weights) is tiny in
    absolute terms *and* tiny compared with the largest relative gradient of
    the layers above it. Requiring both keeps a network that has simply
    converged (every gradient small) from being flagged. Layers whose
    gradient is exactly 0 are left to the dead-ReLU detector: a gradient
    that is blocked (dead units, zero weights) has not vanished.

    Gradients also vanish through time: a recurrent layer that returns only
    its last state (over at least 20 steps) is flagged when the gradient
    reaching the first tenth of its input steps is below `max_ratio` times
    the gradient reaching the last tenth; the remedy is then gated layers
    (LSTM, GRU), or, for those, shorter sequences or direct connections
    between distant steps. Masked inputs are not compared.

    Args:
        max_ratio: Float in (0, 1), default 1e-3. A layer is flagged when its
            relative gradient is below `max_ratio` times the largest one
            above it (for recurrent layers: early steps against late ones);
            the healthy and broken values it sits between are in
            docs/benchmarks/pathology_suite.md.
        max_relative_grad: Positive float, default 1e-4. ...and below this
            absolute value: with a learning rate of 0.01, a layer at 1e-4
            changes its weights by 1e-6 of their size per step.

    Example:

    ```python
    detector = VanishingGradientDetector(max_ratio=1e-3)
    findings = detector(record, recent=[])
    ```
    """

    kinds = (VANISHING_GRADIENTS,)
    history_size = 0

    def __init__(
        self, max_ratio: float = 1e-3, max_relative_grad: float = 1e-4
    ):
        self.max_ratio = open_range("max_ratio", max_ratio, 0.0, 1.0)
        self.max_relative_grad = open_range(
            "max_relative_grad", max_relative_grad, 0.0, math.inf
        )

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        layers = [layer for layer in record.layers if not layer.normalization]
        relative = [layer.data_relative_grad for layer in layers]
        findings = []
        for depth, layer in enumerate(layers[:-1]):
            rel = relative[depth]
            if not math.isfinite(rel) or rel == 0:
                continue  # blocked (dead units) or exploded: other rules
            above = [r for r in relative[depth + 1 :] if math.isfinite(r)]
            reference = max(above, default=0.0)
            ratio = rel / reference if reference > 0 else math.inf
            if not (rel < self.max_relative_grad and ratio < self.max_ratio):
                # The gradient reaches this layer, so it reaches the input:
                # smaller gradients above it are a gated branch (a
                # LayerScale, a zero-initialized residual), not vanishing.
                break
            findings.append(
                make_finding(
                    VANISHING_GRADIENTS,
                    record,
                    layer.name,
                    ratio,
                    self.max_ratio,
                    measure="|g|/|w| over the largest above",
                    message=f"Vanishing gradients in layer '{layer.name}': the data "
                    f"loss gives it {ratio:.1e} times the relative gradient "
                    f"of the largest layer above it (|g|/|w| = {rel:.2e}; "
                    f"flagged when that ratio < {self.max_ratio:g} and "
                    f"|g|/|w| < {self.max_relative_grad:g}): it barely "
                    "trains.",
                    remedy=_remedy(layers, depth),
                )
            )
        return findings + self._through_time(record)

    def _through_time(self, record):
        """Recurrent layers whose early steps get almost no gradient."""
        findings = []
        for stats in record.time_gradients:
            ratio = stats.ratio
            if (
                stats.steps is None
                or stats.steps < MIN_RECURRENT_STEPS
                or stats.late_grad <= 0
                or not ratio < self.max_ratio
            ):
                continue
            findings.append(
                make_finding(
                    VANISHING_GRADIENTS,
                    record,
                    stats.name,
                    ratio,
                    self.max_ratio,
                    measure="early over late step gradient",
                    message=f"Vanishing gradients through time in layer "
                    f"'{stats.name}': the gradient reaching the first tenth "
                    f"of its {stats.steps} steps is {ratio:.1e} times the one "
                    f"reaching the last tenth (limit {self.max_ratio:g}): it "
                    "cannot learn long-range dependencies.",
                    remedy=GATED_RECURRENT_VANISHING_REMEDY
                    if stats.gated
                    else RECURRENT_VANISHING_REMEDY,
                )
            )
        return findings


def _remedy(layers, depth):
    """ReLU for gradients that saturating activations shrink (in the layer
    or above it); otherwise skip connections, normalization, initialization."""
    if any(
        layer.activation in SATURATING_ACTIVATIONS for layer in layers[depth:-1]
    ):
        return REMEDIES[VANISHING_GRADIENTS]
    return UNSATURATED_VANISHING_REMEDY
