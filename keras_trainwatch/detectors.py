"""The rules that turn per-probe statistics into findings.

Each detector is a small callable working on plain `ProbeRecord`s (no
TensorFlow), so it can be tested, tuned and reused on its own:
`detector(record, history) -> list[Finding]`, where `history` holds the
earlier records of the run, oldest first.

The default thresholds come from the pathology suite
(`benchmarks/pathology_suite.py`, summarized in the README): over its 22
healthy controls (probed every 10 steps for 3 epochs), every layer's relative
gradient |g|/|w| stayed above 6.2e-3 times the largest one above it,
per-layer gradient norms below 12, the growth of a layer's gradient norm
over five probes below 10x, and the dead share of a ReLU layer at or below
34%; all 21 broken cases crossed a threshold at the first probe where an
independent measurement showed the fault.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from keras_trainwatch.findings import (
    DEAD_RELU,
    EXPLODING_GRADIENTS,
    GATED_RECURRENT_VANISHING_REMEDY,
    RECURRENT_VANISHING_REMEDY,
    VANISHING_GRADIENTS,
    Finding,
)

# Fewer steps than this and "early" and "late" overlap too much to compare.
MIN_RECURRENT_STEPS = 20
from keras_trainwatch.stats import ProbeRecord


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
            above it (for recurrent layers: early steps against late ones).
            Healthy controls stayed above 6.2e-3 (a residual MLP with 8
            blocks); the lowest layer of a 10-layer sigmoid MLP sits near
            2.5e-7, an LSTM's first steps over 100 get 2.8e-8 of its last.
        max_relative_grad: Positive float, default 1e-4. ...and below this
            absolute value: with a learning rate of 0.01, a layer at 1e-4
            changes its weights by 1e-6 of their size per step.

    Example:

    ```python
    detector = VanishingGradientDetector(max_ratio=1e-3)
    findings = detector(record, history=[])
    ```
    """

    kind = VANISHING_GRADIENTS

    def __init__(
        self, max_ratio: float = 1e-3, max_relative_grad: float = 1e-4
    ):
        self.max_ratio = check_threshold("max_ratio", max_ratio, 0.0, 1.0)
        self.max_relative_grad = check_threshold(
            "max_relative_grad", max_relative_grad, 0.0, math.inf
        )

    def __call__(
        self, record: ProbeRecord, history: Sequence[ProbeRecord]
    ) -> list[Finding]:
        findings = []
        relative = [layer.relative_grad for layer in record.layers]
        for depth, layer in enumerate(record.layers[:-1]):
            above = [r for r in relative[depth + 1 :] if math.isfinite(r)]
            rel = relative[depth]
            if not above or not math.isfinite(rel) or rel == 0:
                continue
            reference = max(above)
            ratio = rel / reference if reference > 0 else math.inf
            if rel < self.max_relative_grad and ratio < self.max_ratio:
                findings.append(
                    _finding(
                        self.kind,
                        record,
                        layer.name,
                        ratio,
                        self.max_ratio,
                        f"Vanishing gradients in layer '{layer.name}': its "
                        f"relative gradient |g|/|w| = {rel:.2e} is "
                        f"{ratio:.1e} times the largest one above it "
                        f"(limits {self.max_relative_grad:g} and "
                        f"{self.max_ratio:g} times): it barely trains.",
                    )
                )
        return findings + self._through_time(record)

    def _through_time(self, record):
        """Recurrent layers whose early steps get almost no gradient."""
        findings = []
        for stats in record.time_gradients:
            ratio = stats.ratio
            if (
                stats.steps < MIN_RECURRENT_STEPS
                or stats.late_grad <= 0
                or not ratio < self.max_ratio
            ):
                continue
            findings.append(
                _finding(
                    self.kind,
                    record,
                    stats.name,
                    ratio,
                    self.max_ratio,
                    f"Vanishing gradients through time in layer "
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


class ExplodingGradientDetector:
    """Finds gradients that are non-finite, huge, or growing by orders of
    magnitude.

    Three rules, in order:

    1. Any non-finite gradient entry or a non-finite loss: one finding, in
       the lowest layer with non-finite gradients.
    2. A layer's gradient norm above `max_grad_norm`.
    3. A layer's gradient norm that grew by `max_growth` or more over the
       last `growth_window` probes and is at least `growth_min_norm`: this
       is the rule that warns while the loss is still finite.

    Args:
        max_grad_norm: Positive float, default 1e3. Healthy networks with
            normalized inputs and targets keep per-layer gradient norms
            below 12 (a regression net at initialization), so 1e3 leaves an
            80x margin; a ReLU MLP initialized with a standard deviation of
            3 starts at 7e4. Raise it for unnormalized regression targets.
        max_growth: Float > 1, default 100 (two orders of magnitude).
            Healthy training grew a layer's gradient norm by at most 10x over
            five probes; Adam at a learning rate of 0.5 by 18000x.
        growth_window: Int >= 1, default 5. How many earlier probes the
            growth is measured against (from their smallest norm).
        growth_min_norm: Positive float, default 10. Growth only counts once
            the norm is this large, so that a layer waking up from a tiny
            gradient (e.g. after zero initialization above it) is not
            flagged.

    Example:

    ```python
    detector = ExplodingGradientDetector(max_grad_norm=1e4)
    findings = detector(record, history=earlier_records)
    ```
    """

    kind = EXPLODING_GRADIENTS

    def __init__(
        self,
        max_grad_norm: float = 1e3,
        max_growth: float = 100.0,
        growth_window: int = 5,
        growth_min_norm: float = 10.0,
    ):
        self.max_grad_norm = check_threshold(
            "max_grad_norm", max_grad_norm, 0.0, math.inf
        )
        self.max_growth = check_threshold(
            "max_growth", max_growth, 1.0, math.inf
        )
        if (
            isinstance(growth_window, bool)
            or not isinstance(growth_window, numbers.Integral)
            or growth_window < 1
        ):
            raise ValueError(
                "Invalid value received for argument `growth_window`. "
                f"Expected an integer >= 1. Received: growth_window={growth_window!r}"
            )
        self.growth_window = int(growth_window)
        self.growth_min_norm = check_threshold(
            "growth_min_norm", growth_min_norm, 0.0, math.inf
        )

    def __call__(
        self, record: ProbeRecord, history: Sequence[ProbeRecord]
    ) -> list[Finding]:
        nonfinite = self._nonfinite(record)
        if nonfinite is not None:
            return [nonfinite]
        findings = []
        recent = [
            {layer.name: layer.grad_norm for layer in earlier.layers}
            for earlier in history[-self.growth_window :]
        ]
        for layer in record.layers:
            norm = layer.grad_norm
            if norm > self.max_grad_norm:
                findings.append(
                    self._finding(
                        record,
                        layer.name,
                        norm,
                        self.max_grad_norm,
                        f"gradient norm {norm:.3g} exceeds {self.max_grad_norm:g}.",
                    )
                )
                continue
            earlier = [norms.get(layer.name, math.nan) for norms in recent]
            earlier = [n for n in earlier if math.isfinite(n) and n > 0]
            if not earlier or norm < self.growth_min_norm:
                continue
            growth = norm / min(earlier)
            if growth >= self.max_growth:
                findings.append(
                    self._finding(
                        record,
                        layer.name,
                        growth,
                        self.max_growth,
                        f"gradient norm grew {growth:.3g}x to {norm:.3g} "
                        f"over the last {_probes(len(recent))}.",
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
            )
        if not math.isfinite(record.loss):
            return self._finding(
                record,
                "loss",
                record.loss,
                0.0,
                f"the probe loss is {record.loss}.",
            )
        return None

    def _finding(self, record, layer, value, threshold, evidence):
        where = "the loss" if layer == "loss" else f"layer '{layer}'"
        return _finding(
            self.kind,
            record,
            layer,
            value,
            threshold,
            f"Exploding gradients in {where}: {evidence}",
        )


class DeadReluDetector:
    """Finds ReLU layers where a large share of the units are dead.

    A unit is dead on the probe batch when it outputs 0 for every sample
    (and, for convolutions, every position): no gradient flows through it,
    so it may never recover.

    Args:
        max_dead_fraction: Float in (0, 1], default 0.5. A layer is flagged
            when at least this share of its units is dead. At He
            initialization almost no unit is dead; healthy training left at
            most 34% of a layer's units dead (a 10-layer ReLU MLP on digits),
            Adam at a learning rate of 0.5 up to 97%.

    Example:

    ```python
    detector = DeadReluDetector(max_dead_fraction=0.3)
    findings = detector(record, history=[])
    ```
    """

    kind = DEAD_RELU

    def __init__(self, max_dead_fraction: float = 0.5):
        self.max_dead_fraction = check_threshold(
            "max_dead_fraction", max_dead_fraction, 0.0, 1.0, include_high=True
        )

    def __call__(
        self, record: ProbeRecord, history: Sequence[ProbeRecord]
    ) -> list[Finding]:
        findings = []
        for stats in record.dead_units:
            fraction = stats.dead_fraction
            if stats.units and fraction >= self.max_dead_fraction:
                how = (
                    "output 0 for every sample of the probe batch"
                    if stats.source == "activations"
                    else "get exactly zero gradient on their weights and bias"
                )
                findings.append(
                    _finding(
                        self.kind,
                        record,
                        stats.name,
                        fraction,
                        self.max_dead_fraction,
                        f"Dead ReLU units in layer '{stats.name}': "
                        f"{stats.dead_units} of {stats.units} units "
                        f"({fraction:.0%}) {how} (threshold "
                        f"{self.max_dead_fraction:.0%}).",
                    )
                )
        return findings


def check_threshold(
    name: str,
    value: float,
    low: float,
    high: float,
    include_high: bool = False,
) -> float:
    """Validates a threshold argument and returns it as a float.

    Args:
        name: The argument's name, for the error message.
        value: The received value.
        low: Exclusive lower bound.
        high: Upper bound (exclusive unless `include_high`).
        include_high: Whether `high` itself is allowed.

    Returns:
        `float(value)`.

    Raises:
        ValueError: If `value` is not a real number in the allowed range.
    """
    closing = "]" if include_high else ")"
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and low < value
        and (value <= high if include_high else value < high)
    )
    if not valid:  # NaN fails every comparison, so it lands here too
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a number "
            f"in ({low:g}, {high:g}{closing}. Received: {name}={value!r}"
        )
    return float(value)


def _probes(count):
    return "probe" if count == 1 else f"{count} probes"


def _finding(kind, record, layer, value, threshold, message, remedy=""):
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
