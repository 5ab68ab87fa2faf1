"""The model's forward pass and loss on the probe batch, written once for
every backend, without side effects.

The model runs in training mode inside a `keras.StatelessScope` whose state
mapping gives each variable the value the backend's gradient call
differentiates (or passes as a compiled function's argument): batch-norm
moving statistics, dropout seed generators and metric variables are updated
only inside the scope and never written back, so watching does not change
training. The layer outputs the statistics need (ReLU outputs for dead
units, sigmoid/tanh outputs for saturation, recurrent layers' input
sequences) come out of a functional twin of the model.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import ops

from keras_trainwatch import _keras_compat
from keras_trainwatch.probe import reductions
from keras_trainwatch.probe.errors import MissingLossError, model_computation
from keras_trainwatch.probe.layout import ModelLayout


class ForwardResult(NamedTuple):
    """What one forward pass produced.

    Attributes:
        loss: The model's loss (float32 scalar), regularization included.
        activations: Outputs of the ReLU layers checked on their outputs.
        saturating: Outputs of the hidden sigmoid/tanh layers.
        sequences: Input sequences of the recurrent layers.
    """

    loss: Any
    activations: list
    saturating: list
    sequences: list


class GradientPassResult(NamedTuple):
    """What one gradient pass produced (on one replica), on any backend.

    Attributes:
        loss: The loss (float32 scalar), unscaled.
        weights: The values of the trainable variables, in layout order.
        gradients: Their gradients (`None` where the loss does not reach).
        dead_units: Dead units (summed over replicas) of each ReLU layer
            checked on its outputs.
        saturated: The saturated share of each hidden sigmoid/tanh layer's
            outputs (over all replicas).
        sequences: Input sequences of the recurrent layers.
        sequence_gradients: Gradients of those sequences (`None` where the
            loss does not reach, or where the backend cannot tell).
        regularization_gradients: The gradient of each variable's own
            regularization term (`None` for a variable without one), to
            subtract from its gradient for the data loss's alone.
    """

    loss: Any
    weights: list
    gradients: list
    dead_units: list
    saturated: list
    sequences: list
    sequence_gradients: list
    regularization_gradients: list


class ProbeForward:
    """Runs the model and its loss on a batch.

    Args:
        model: A built, compiled Keras model.
        layout: The model's `ModelLayout`.
    """

    def __init__(self, model: keras.Model, layout: ModelLayout):
        self.model = model
        self.layout = layout
        self._forward = model
        if (
            layout.activation_relus
            or layout.recurrent_layers
            or layout.saturating_layers
        ):
            # A functional twin that also returns the tensors the probe
            # inspects (same layers, same variables).
            inputs, outputs = layout.graph_io
            self._forward = keras.Model(
                inputs,
                [
                    outputs,
                    [r.output for r in layout.activation_relus],
                    [s.output for s in layout.saturating_layers],
                    [r.sequence for r in layout.recurrent_layers],
                ],
            )

    def __call__(self, x, y, sample_weight, state_mapping) -> ForwardResult:
        """Runs the pass with the variables mapped to the given values.

        Args:
            x, y, sample_weight: The batch.
            state_mapping: `(variable, value)` pairs (at least the trainable
                variables).

        Returns:
            A `ForwardResult`.
        """
        with keras.StatelessScope(
            state_mapping=state_mapping, collect_losses=True
        ) as scope:
            with model_computation("the model's forward pass"):
                outputs = self._forward(x, training=True)
            if self._forward is self.model:
                y_pred, activations, saturating, sequences = outputs, [], [], []
            else:
                y_pred, activations, saturating, sequences = outputs
            self._check_loss_exists(scope)
            with model_computation("the model's loss"):
                loss = ops.cast(
                    _keras_compat.compute_loss(
                        self.model, x, y, y_pred, sample_weight
                    ),
                    "float32",
                )
        return ForwardResult(
            loss, list(activations), list(saturating), list(sequences)
        )

    def reduce_outputs(self, activations, saturating):
        """`(dead_units, saturated)` of the layer outputs the probe reads."""
        layout = self.layout
        return (
            [
                reductions.dead_units_from_output(output, relu.channel_axis)
                for relu, output in zip(layout.activation_relus, activations)
            ],
            [
                reductions.saturated_share(output, layer.activation)
                for layer, output in zip(layout.saturating_layers, saturating)
            ],
        )

    def regularization_terms(self, weights) -> tuple[list[int], list]:
        """`(indices, terms)`: the regularized trainable variables, and each
        one's regularization term on `weights` (float32 scalars), for
        differentiating on their own."""
        variables = self.layout.variables
        regularized = [
            i
            for i, v in enumerate(variables)
            if getattr(v, "regularizer", None) is not None
        ]
        terms = [
            ops.cast(ops.sum(variables[i].regularizer(weights[i])), "float32")
            for i in regularized
        ]
        return regularized, terms

    def _check_loss_exists(self, scope):
        model = self.model
        if (
            _keras_compat.compiled_loss(model) is None
            and not scope.losses
            and not model.losses
            and not _keras_compat.has_own_loss(model)
        ):
            raise MissingLossError(
                "GradientWatch measures the gradients of the model's own "
                f"loss, and model '{model.name}' has none: compile it with "
                "`loss=` (a model with a custom `train_step` must still be "
                "compiled with the loss it minimizes, or add it with "
                "`add_loss`)."
            )


def loss_scale(model: keras.Model):
    """The optimizer's loss scale as a float32 tensor, or `None` when the
    loss is not scaled."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    if not reads_loss_scale(model) and (
        getattr(optimizer, "loss_scale_factor", None) is None
    ):
        return None
    return ops.cast(optimizer.scale_loss(ops.ones((), "float32")), "float32")


def reads_loss_scale(model: keras.Model) -> bool:
    """Whether the pass reads the optimizer's state: a `LossScaleOptimizer`'s
    dynamic loss scale, a variable its `build` creates (unbuilt, it scales by
    its initial scale, which a trace would keep)."""
    return isinstance(
        getattr(model, "optimizer", None), keras.optimizers.LossScaleOptimizer
    )
