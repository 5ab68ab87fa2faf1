"""What one probe measured: plain records, free of TensorFlow."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

DeadUnitSource = Literal["activations", "gradients"]
ACTIVATIONS: DeadUnitSource = "activations"
GRADIENTS: DeadUnitSource = "gradients"


@dataclasses.dataclass(frozen=True)
class WeightStats:
    """Gradient statistics of one trainable variable on the probe batch.

    Args:
        name: The variable's path, e.g. `"dense/kernel"`.
        grad_norm: L2 norm of the gradient (unscaled for mixed precision;
            for sparse gradients, of the summed rows that were touched).
        weight_norm: L2 norm of the variable (of the touched rows only for
            sparse gradients, so that `relative_grad` stays meaningful).
        nonfinite: Number of gradient entries that are NaN or infinite.
        data_grad_norm: L2 norm of the gradient of the data loss alone,
            without the variable's regularization term (which adds
            `2 * l2 * w` to the gradient and carries no learning signal), or
            `None` when the variable has no regularizer.
    """

    name: str
    grad_norm: float
    weight_norm: float
    nonfinite: int
    data_grad_norm: float | None = None

    @property
    def relative_grad(self) -> float:
        """`grad_norm / weight_norm`: the size of one SGD step per unit of lr."""
        return relative(self.grad_norm, self.weight_norm)

    @property
    def data_grad(self) -> float:
        """The gradient norm of the data loss alone (without weight
        regularization); `grad_norm` when the variable is not regularized."""
        return (
            self.grad_norm
            if self.data_grad_norm is None
            else self.data_grad_norm
        )


@dataclasses.dataclass(frozen=True)
class LayerDescription:
    """What the rules need to know about a layer that owns trainable
    weights, shared by the probe's layout and the records it fills.

    Args:
        name: The layer's name (`"outer/inner"` for a layer inside a nested
            model).
        kind: The layer's class name, e.g. `"Dense"` (`""` when unknown).
        activation: The name of its activation function, or `None`.
        normalization: Whether it is a normalization layer (its scale and
            offset are not evidence of vanishing gradients).
        reads_input: Whether it takes a model input directly (its kernel
            gradient scales with the inputs' scale).
    """

    name: str
    _: dataclasses.KW_ONLY
    kind: str = ""
    activation: str | None = None
    normalization: bool = False
    reads_input: bool = False

    def description(self) -> dict:
        """The description's fields, to describe another record alike."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(LayerDescription)
        }


@dataclasses.dataclass(frozen=True)
class LayerStats(LayerDescription):
    """Gradient statistics of one layer that owns trainable weights: its
    `LayerDescription` and, as `weights`, the statistics of each of its
    trainable variables."""

    weights: tuple[WeightStats, ...]

    @property
    def grad_norm(self) -> float:
        """L2 norm of the gradient over all the layer's weights."""
        return math.hypot(*(w.grad_norm for w in self.weights))

    @property
    def weight_norm(self) -> float:
        """L2 norm of all the layer's weights."""
        return math.hypot(*(w.weight_norm for w in self.weights))

    @property
    def relative_grad(self) -> float:
        """`grad_norm / weight_norm` over the whole layer."""
        return relative(self.grad_norm, self.weight_norm)

    @property
    def data_grad_norm(self) -> float:
        """L2 norm of the data loss's gradient over the layer's weights."""
        return math.hypot(*(w.data_grad for w in self.weights))

    @property
    def data_relative_grad(self) -> float:
        """`data_grad_norm / weight_norm`: what the data loss alone asks of
        the layer."""
        return relative(self.data_grad_norm, self.weight_norm)

    @property
    def nonfinite(self) -> int:
        """Number of non-finite gradient entries in the layer."""
        return sum(w.nonfinite for w in self.weights)


@dataclasses.dataclass(frozen=True)
class DeadUnitStats:
    """How many units of a ReLU-activated layer were dead on the probe batch.

    Args:
        name: The layer's name.
        dead_units: Units (channels for convolutions) that output 0 for every
            sample (and position) of the probe batch.
        units: Number of units (channels) of the layer.
        source: `"activations"` when measured on the layer's output, or
            `"gradients"` when inferred from units whose incoming weights and
            bias got exactly zero gradient (models whose intermediate outputs
            cannot be reached, such as subclassed models).
    """

    name: str
    dead_units: int
    units: int
    source: DeadUnitSource

    @property
    def dead_fraction(self) -> float:
        """Share of the layer's units that are dead, in [0, 1]."""
        return self.dead_units / self.units if self.units else 0.0


@dataclasses.dataclass(frozen=True)
class SaturationStats:
    """How many outputs of a sigmoid or tanh layer sit in the flat tails,
    where the activation's derivative is under 2% of its peak and almost no
    gradient passes.

    Args:
        name: The layer's name.
        activation: `"sigmoid"` or `"tanh"`.
        saturated: Share of the layer's outputs (over samples, positions and
            units) below 0.01 or above 0.99 for sigmoid, beyond +-0.99 for
            tanh.
    """

    name: str
    activation: str
    saturated: float


@dataclasses.dataclass(frozen=True)
class UnitSpreadStats:
    """How different the units of a Dense or convolution layer are.

    Units that start identical (a constant initializer) compute the same
    output and get the same gradient: they stay identical forever, and the
    layer works as if it had one unit.

    Args:
        name: The layer's name.
        units: Number of units.
        weight_spread: Largest difference between the units' incoming
            weights (and biases), over the largest weight, on up to 32 rows
            of the kernel spread evenly over it (0 when all units are
            identical: then every row is constant across them).
        grad_spread: The same for their gradients.
    """

    name: str
    units: int
    weight_spread: float
    grad_spread: float


@dataclasses.dataclass(frozen=True)
class TimeGradientStats:
    """How much gradient reaches the early steps of a recurrent layer.

    For a layer that returns only its last state, the loss reaches the
    input at step t through every later step; when that product shrinks,
    the early steps get almost no gradient and long-range dependencies
    cannot be learned (vanishing gradients through time).

    Args:
        name: The recurrent layer's name.
        steps: Steps of the input sequence, or `None` when not measured (a
            masked input, whose padding differs from sample to sample, or a
            layer off the loss's path).
        early_grad: Mean gradient norm (over batch and features) at the
            first tenth of the steps, in reading order.
        late_grad: The same at the last tenth.
        gated: Whether the layer is an LSTM or GRU.
    """

    name: str
    steps: int | None
    early_grad: float
    late_grad: float
    gated: bool = False

    @property
    def ratio(self) -> float:
        """`early_grad / late_grad`."""
        return relative(self.early_grad, self.late_grad)


@dataclasses.dataclass(frozen=True)
class ProbeRecord:
    """Everything one probe measured.

    Args:
        epoch: 0-based epoch during which the probe ran.
        step: Global training step (optimizer updates so far) at the probe.
        loss: The model's compiled loss on the probe batch, in training mode.
        layers: Statistics of the layers with trainable weights, ordered from
            the input to the output.
        dead_units: Dead-unit statistics of every ReLU-activated layer that
            could be checked.
        time_gradients: Early-versus-late gradient of every recurrent layer
            that returns only its last state and could be reached.
        input_scale: Root mean square of the probe batch's floating-point
            inputs (1.0 when unknown): the gradients of layers that read the
            inputs directly grow in proportion to it.
        target_scale: Root mean square of its floating-point targets, or
            `None` when they are not floating point.
        saturation: Saturation of every hidden sigmoid/tanh layer whose
            outputs could be reached.
        unit_spread: Unit spread of every Dense/convolution layer with more
            than one unit.
    """

    epoch: int
    step: int
    loss: float
    layers: tuple[LayerStats, ...]
    dead_units: tuple[DeadUnitStats, ...]
    time_gradients: tuple[TimeGradientStats, ...] = ()
    input_scale: float = 1.0
    target_scale: float | None = None
    saturation: tuple[SaturationStats, ...] = ()
    unit_spread: tuple[UnitSpreadStats, ...] = ()

    @property
    def grad_norm(self) -> float:
        """Global gradient norm over all watched layers."""
        return math.hypot(*(layer.grad_norm for layer in self.layers))

    @property
    def all_finite(self) -> bool:
        """Whether the loss and every gradient entry were finite."""
        return math.isfinite(self.loss) and not any(
            layer.nonfinite for layer in self.layers
        )

    @property
    def max_dead_fraction(self) -> float:
        """The largest dead fraction among ReLU layers (0 when there are none)."""
        return max((d.dead_fraction for d in self.dead_units), default=0.0)

    def layer(self, name: str) -> LayerStats:
        """Returns the statistics of the layer called `name`."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"No watched layer named {name!r}.")


def recovered(record: ProbeRecord, layer: str | None) -> bool:
    """Whether a finding about `layer` that `record`'s probe no longer shows
    has really ended: not when the layer now gets no usable gradient at all
    (exactly zero, or non-finite), which is worse than what was found, not a
    recovery. Findings about the loss as a whole (`layer=None`) and about
    layers without weights of their own end when they are no longer
    shown."""
    if layer is None:
        return True
    stats = next((s for s in record.layers if s.name == layer), None)
    return stats is None or (stats.nonfinite == 0 and stats.grad_norm > 0)


def relative(numerator: float, denominator: float) -> float:
    """`numerator / denominator`, with 0/0 = 0, x/0 = inf and NaN kept."""
    if math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    if denominator > 0:
        return numerator / denominator
    if numerator == 0:
        return 0.0
    return math.inf
