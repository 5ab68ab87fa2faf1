"""One forward and backward pass of the model on the probe batch, without
side effects.

The model runs in training mode inside a `keras.StatelessScope`, so
batch-norm moving statistics, dropout seed generators and metric variables
are updated only inside the scope and never written back: watching does not
change training. The trainable variables are read into tensors that the tape
watches, and the gradient is that of the model's own loss (regularization
included, multiplied by the optimizer's loss scale and divided by it
afterwards). The layer outputs the probe reads are reduced between the
forward and the backward pass, so that none is held past its gradient.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import tensorflow as tf

from keras_trainwatch import _keras_compat
from keras_trainwatch.probe import reductions
from keras_trainwatch.probe.errors import MissingLossError, model_computation
from keras_trainwatch.probe.layout import ModelLayout


class GradientPassResult(NamedTuple):
    """What one pass produced, on one replica.

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
            loss does not reach).
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


class GradientPass:
    """Computes the loss and the gradients of a model on a batch.

    Args:
        model: A built, compiled Keras model.
        layout: The model's `ModelLayout`.
    """

    def __init__(self, model: keras.Model, layout: ModelLayout):
        self.model = model
        self.layout = layout
        self._forward = model
        activation_relus = layout.activation_relus
        if (
            activation_relus
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
                    [r.output for r in activation_relus],
                    [s.output for s in layout.saturating_layers],
                    [r.sequence for r in layout.recurrent_layers],
                ],
            )

    def __call__(self, x, y, sample_weight) -> GradientPassResult:
        """Runs the pass (inside the probe's `tf.function`)."""
        variables = self.layout.variables
        weights = [tf.identity(v.value) for v in variables]
        scaling = self._loss_scaling()
        # Two gradients under a LossScaleOptimizer: the scaled one avoids
        # float16 underflow (tiny gradients reading as vanishing), the plain
        # one stands in where the scale overflows.
        with tf.GradientTape(persistent=scaling is not None) as tape:
            tape.watch(weights)
            with keras.StatelessScope(
                state_mapping=list(zip(variables, weights)),
                collect_losses=True,
            ) as scope:
                with model_computation("the model's forward pass"):
                    outputs = self._forward(x, training=True)
                if self._forward is self.model:
                    y_pred, activations, saturating, sequences = (
                        outputs,
                        [],
                        [],
                        [],
                    )
                else:
                    y_pred, activations, saturating, sequences = outputs
                self._check_loss_exists(scope)
                with model_computation("the model's loss"):
                    loss = tf.cast(
                        _keras_compat.compute_loss(
                            self.model, x, y, y_pred, sample_weight
                        ),
                        tf.float32,
                    )
            scaled_loss = loss if scaling is None else loss * scaling
            # Reduced before the backward pass (off the tape: nothing to
            # differentiate), so that run eagerly (the first probe) the pass
            # holds no layer output past its gradient and the backward pass
            # reuses their memory.
            with tape.stop_recording():
                dead_units, saturated = self._reduce_outputs(
                    activations, saturating
                )
            del outputs, activations, saturating
        sources = weights + list(sequences)
        grads = tape.gradient(scaled_loss, sources)
        if scaling is not None:
            grads = _unscaled(grads, scaling, tape.gradient(loss, sources))
        return GradientPassResult(
            loss=loss,
            weights=weights,
            gradients=grads[: len(weights)],
            dead_units=dead_units,
            saturated=saturated,
            sequences=list(sequences),
            sequence_gradients=grads[len(weights) :],
            regularization_gradients=self._regularization_gradients(weights),
        )

    def _reduce_outputs(self, activations, saturating):
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

    def _regularization_gradients(self, weights):
        """Each regularized variable's regularizer differentiated on its
        own: a small tape over the weights alone, no activations."""
        regularized = [
            i
            for i, v in enumerate(self.layout.variables)
            if getattr(v, "regularizer", None) is not None
        ]
        result = [None] * len(weights)
        if not regularized:
            return result
        with tf.GradientTape() as tape:
            tape.watch([weights[i] for i in regularized])
            terms = [
                tf.cast(
                    tf.reduce_sum(
                        self.layout.variables[i].regularizer(weights[i])
                    ),
                    tf.float32,
                )
                for i in regularized
            ]
        grads = tape.gradient(terms, [weights[i] for i in regularized])
        for i, grad in zip(regularized, grads):
            result[i] = grad
        return result

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

    def _loss_scaling(self):
        """The optimizer's loss scale as a float32 tensor, or `None` when the
        loss is not scaled."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        if not reads_loss_scale(self.model) and (
            getattr(optimizer, "loss_scale_factor", None) is None
        ):
            return None
        return tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)


def reads_loss_scale(model: keras.Model) -> bool:
    """Whether the pass reads the optimizer's state: a `LossScaleOptimizer`'s
    dynamic loss scale, a variable its `build` creates (unbuilt, it scales by
    its initial scale, which a trace would keep)."""
    return isinstance(
        getattr(model, "optimizer", None), keras.optimizers.LossScaleOptimizer
    )


def _unscaled(scaled_grads, scale, plain_grads):
    """Each scaled gradient divided by the scale, or the plain gradient
    where the scaled one overflowed (the optimizer would skip that step and
    lower its scale)."""
    result = []
    for scaled, plain in zip(scaled_grads, plain_grads):
        if scaled is None:
            result.append(None)
        elif isinstance(scaled, tf.IndexedSlices):
            values = _pick(scaled.values, scale, plain.values)
            result.append(
                tf.IndexedSlices(values, scaled.indices, scaled.dense_shape)
            )
        else:
            result.append(_pick(scaled, scale, plain))
    return result


def _pick(scaled, scale, plain):
    scaled = tf.cast(scaled, tf.float32)
    overflowed = tf.reduce_any(~tf.math.is_finite(scaled))
    return tf.where(overflowed, tf.cast(plain, tf.float32), scaled / scale)
