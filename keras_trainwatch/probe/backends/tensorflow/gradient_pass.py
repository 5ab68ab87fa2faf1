"""One forward and backward pass of the model on the probe batch, with
`tf.GradientTape`, without side effects.

The forward pass is the shared `ProbeForward` (stateless, in training
mode). The trainable variables are read into tensors that the tape watches,
and the gradient is that of the model's own loss (regularization included,
multiplied by the optimizer's loss scale and divided by it afterwards).
The layer outputs the probe reads are reduced between the forward and the
backward pass, off the tape, so that none is held past its gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_trainwatch.probe.forward import (
    GradientPassResult,
    ProbeForward,
    loss_scale,
)
from keras_trainwatch.probe.layout import ModelLayout


class GradientPass:
    """Computes the loss and the gradients of a model on a batch, with
    `tf.GradientTape`.

    Args:
        model: A built, compiled Keras model.
        layout: The model's `ModelLayout`.
    """

    def __init__(self, model: keras.Model, layout: ModelLayout):
        self.model = model
        self.layout = layout
        self._forward = ProbeForward(model, layout)

    def __call__(self, x, y, sample_weight) -> GradientPassResult:
        """Runs the pass (inside the probe's `tf.function`)."""
        variables = self.layout.variables
        weights = [tf.identity(v.value) for v in variables]
        scaling = loss_scale(self.model)
        # Two gradients under a LossScaleOptimizer: the scaled one avoids
        # float16 underflow (tiny gradients reading as vanishing), the plain
        # one stands in where the scale overflows.
        with tf.GradientTape(persistent=scaling is not None) as tape:
            tape.watch(weights)
            forward = self._forward(
                x, y, sample_weight, list(zip(variables, weights))
            )
            loss = forward.loss
            scaled_loss = loss if scaling is None else loss * scaling
            # Reduced before the backward pass (off the tape: nothing to
            # differentiate), so that run eagerly (the first probe) the pass
            # holds no layer output past its gradient and the backward pass
            # reuses their memory.
            with tape.stop_recording():
                dead_units, saturated = self._forward.reduce_outputs(
                    forward.activations, forward.saturating
                )
            sequences = forward.sequences
            del forward
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

    def _regularization_gradients(self, weights):
        """Each regularized variable's regularizer differentiated on its
        own: a small tape over the weights alone, no activations."""
        result = [None] * len(weights)
        with tf.GradientTape() as tape:
            tape.watch(weights)
            regularized, terms = self._forward.regularization_terms(weights)
        if not regularized:
            return result
        grads = tape.gradient(terms, [weights[i] for i in regularized])
        for i, grad in zip(regularized, grads):
            result[i] = grad
        return result


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
