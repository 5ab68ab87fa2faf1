"""The compiled GradientTape probe: model + fixed batch -> per-layer statistics.

The probe runs the model forward in training mode inside a
`keras.StatelessScope`, so batch-norm moving statistics, dropout seed
generators and metric variables are updated only inside the scope and never
written back: watching does not change training. The trainable variables are
read into tensors that the tape watches, and the gradient of the model's own
loss (regularization included, multiplied by the optimizer's loss scale and
divided by it afterwards) is reduced on the device to a single small vector
of statistics, the only thing copied to the host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import keras
from keras.src import backend as keras_backend
import numpy as np
import tensorflow as tf

from keras_trainwatch.model_layout import ModelLayout
from keras_trainwatch.probe_data import ProbeBatch
from keras_trainwatch.stats import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    TimeGradientStats,
    WeightStats,
)

_LOG = logging.getLogger("keras_trainwatch")

GradientHook = Callable[[Sequence[str], Sequence[tf.Tensor], tf.Tensor], None]
"""Called inside the compiled probe with variable names, dense gradients and
the step tensor (used to write gradient histograms without copying them)."""

_STATS_PER_VARIABLE = 3  # grad norm, weight norm, non-finite count


class GradientProbe:
    """Measures per-layer gradient statistics of a model on a fixed batch.

    The work is one `tf.function`, traced once (at `trace()` or at the first
    call) and reused for every probe.

    Args:
        model: A built, compiled Keras model.
        batch: The fixed probe batch.
        gradient_hook: Optional `GradientHook` run inside the compiled
            function (TensorBoard histograms use it).

    Example:

    ```python
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    record = probe(epoch=0, step=0)
    print(record.layers[0].grad_norm)
    ```
    """

    def __init__(
        self,
        model: keras.Model,
        batch: ProbeBatch,
        gradient_hook: GradientHook | None = None,
    ):
        self.model = model
        self.layout = ModelLayout.of(model)
        self._batch = batch
        self._gradient_hook = gradient_hook
        activation_relus = self.layout.activation_relus
        recurrent = self.layout.recurrent_layers
        self._forward = model
        if activation_relus or recurrent:
            inputs, outputs = self.layout.graph_io
            self._forward = keras.Model(
                inputs,
                [
                    outputs,
                    [r.output for r in activation_relus],
                    [r.sequence for r in recurrent],
                ],
            )
        # Variables whose gradient is None (not connected to the loss) are
        # found at trace time and left out of the statistics.
        self._connected: list[int] | None = None
        self._measured_relus: list = []
        # Without autograph: converting the call stack costs more than a
        # second at the first trace, and buys nothing, since Keras layer code
        # is not converted in Keras's own training step either (a layer that
        # branches on a tensor in Python fails there too).
        self._function = tf.function(self._statistics, autograph=False)

    @property
    def tracing_count(self) -> int:
        """How many times the compiled function has been traced."""
        return self._function.experimental_get_tracing_count()

    def trace(self) -> None:
        """Traces the compiled function now, so that a batch that does not fit
        the model fails before training starts."""
        self._function.get_concrete_function(*self._arguments(step=0))

    def __call__(self, epoch: int, step: int) -> ProbeRecord:
        """Runs one probe.

        Args:
            epoch: 0-based epoch, recorded in the result.
            step: Global training step, recorded in the result.

        Returns:
            A `ProbeRecord`.
        """
        values = self._function(*self._arguments(step)).numpy()
        return self._unpack(values, epoch, step)

    def _arguments(self, step):
        return (
            self._batch.x,
            self._batch.y,
            self._batch.sample_weight,
            tf.constant(step, tf.int64),
        )

    def _statistics(self, x, y, sample_weight, step):
        variables = self.layout.variables
        values = [tf.identity(v.value) for v in variables]
        activation_relus = self.layout.activation_relus
        with tf.GradientTape() as tape:
            tape.watch(values)
            with keras.StatelessScope(
                state_mapping=list(zip(variables, values)),
                collect_losses=True,
            ):
                outputs = self._forward(x, training=True)
                if self._forward is self.model:
                    y_pred, activations, sequences = outputs, [], []
                else:
                    y_pred, activations, sequences = outputs
                loss = self._compute_loss(x, y, y_pred, sample_weight)
            loss = tf.cast(loss, tf.float32)
            loss_scale = self._loss_scale()
            scaled_loss = loss * loss_scale
        grads = tape.gradient(scaled_loss, values + list(sequences))
        grads, sequence_grads = grads[: len(values)], grads[len(values) :]
        if self._connected is None:
            self._connected = [i for i, g in enumerate(grads) if g is not None]
            self._log_disconnected()

        stats = [loss]
        hook_names, hook_grads = [], []
        for i in self._connected:
            grad, weight = _dense_rows(grads[i], values[i])
            grad = tf.cast(grad, tf.float32) / loss_scale
            stats += [
                _l2_norm(grad),
                _l2_norm(weight),
                tf.reduce_sum(tf.cast(~tf.math.is_finite(grad), tf.float32)),
            ]
            hook_names.append(self.layout.variable_names[i])
            hook_grads.append(grad)
        dead_counts = [
            (relu, _dead_units_from_output(activation, relu.channel_axis))
            for relu, activation in zip(activation_relus, activations)
        ]
        for relu in self.layout.gradient_relus:
            kernel_grad = grads[relu.kernel_index]
            if kernel_grad is not None:
                bias_grad = (
                    None if relu.bias_index is None else grads[relu.bias_index]
                )
                dead_counts.append(
                    (relu, _dead_units_from_gradients(kernel_grad, bias_grad))
                )
        self._measured_relus = [relu for relu, _ in dead_counts]
        stats += [count for _, count in dead_counts]
        for recurrent, sequence, grad in zip(
            self.layout.recurrent_layers, sequences, sequence_grads
        ):
            masked = keras_backend.get_keras_mask(sequence) is not None
            if grad is None or masked:
                # Not on the loss's path, or padded steps whose place differs
                # from sample to sample: no early/late comparison.
                stats += [0.0, 0.0, 0.0]
                continue
            stats += _early_and_late(
                tf.cast(grad, tf.float32) / loss_scale, recurrent.backwards
            )
        if self._gradient_hook is not None:
            self._gradient_hook(hook_names, hook_grads, step)
        return tf.stack([tf.cast(s, tf.float64) for s in stats])

    def _compute_loss(self, x, y, y_pred, sample_weight):
        # `_compute_loss` copes with `compute_loss` overrides that predate
        # the `training` argument (Keras < 3.3 signatures).
        compute = getattr(self.model, "_compute_loss", None)
        if compute is None:
            return self.model.compute_loss(x, y, y_pred, sample_weight)
        return compute(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )

    def _loss_scale(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return tf.constant(1.0)
        return tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)

    def _log_disconnected(self):
        connected = set(self._connected)
        missing = [
            name
            for i, name in enumerate(self.layout.variable_names)
            if i not in connected
        ]
        if missing:
            _LOG.info(
                "GradientWatch: these variables get no gradient from the "
                "loss and are not watched: %s",
                ", ".join(missing),
            )

    def _unpack(self, values: np.ndarray, epoch: int, step: int) -> ProbeRecord:
        loss, cursor = float(values[0]), 1
        per_variable = {}
        for i in self._connected:
            grad_norm, weight_norm, nonfinite = values[cursor : cursor + 3]
            cursor += _STATS_PER_VARIABLE
            per_variable[i] = WeightStats(
                self.layout.variable_names[i],
                float(grad_norm),
                float(weight_norm),
                int(nonfinite),
            )
        layers = []
        for watched in self.layout.layers:
            weights = tuple(
                per_variable[i]
                for i in watched.variable_indices
                if i in per_variable
            )
            if weights:
                layers.append(LayerStats(watched.name, len(layers), weights))
        dead = tuple(
            DeadUnitStats(relu.name, int(count), relu.units, relu.source)
            for relu, count in zip(self._measured_relus, values[cursor:])
        )
        cursor += len(dead)
        time_gradients = []
        for recurrent in self.layout.recurrent_layers:
            steps, early, late = values[cursor : cursor + 3]
            cursor += 3
            time_gradients.append(
                TimeGradientStats(
                    recurrent.name,
                    int(steps),
                    float(early),
                    float(late),
                    gated=recurrent.gated,
                )
            )
        return ProbeRecord(
            epoch, step, loss, tuple(layers), dead, tuple(time_gradients)
        )


def _dense_rows(grad, weight):
    """The gradient as a dense tensor and the weights it applies to.

    Sparse gradients (from `Embedding`) are summed per touched row, and only
    those rows of the weights are kept.
    """
    if isinstance(grad, tf.IndexedSlices):
        rows, positions = tf.unique(grad.indices)
        summed = tf.math.unsorted_segment_sum(
            grad.values, positions, tf.shape(rows)[0]
        )
        return summed, tf.gather(weight, rows)
    return grad, weight


def _l2_norm(tensor):
    """L2 norm that does not overflow float32 for large finite entries."""
    tensor = tf.cast(tensor, tf.float32)
    largest = tf.reduce_max(tf.abs(tensor))
    safe = tf.where(largest > 0, largest, tf.ones_like(largest))
    return safe * tf.norm(tensor / safe)


def _dead_units_from_output(activation, channel_axis):
    rank = activation.shape.rank
    axis = channel_axis % rank
    other_axes = [a for a in range(rank) if a != axis]
    alive = tf.reduce_any(tf.not_equal(activation, 0), axis=other_axes)
    return tf.reduce_sum(tf.cast(~alive, tf.float32))


def _dead_units_from_gradients(kernel_grad, bias_grad):
    rank = kernel_grad.shape.rank
    alive = tf.reduce_any(
        tf.not_equal(kernel_grad, 0), axis=list(range(rank - 1))
    )
    if bias_grad is not None:
        alive = alive | tf.not_equal(bias_grad, 0)
    return tf.reduce_sum(tf.cast(~alive, tf.float32))


def _early_and_late(sequence_grad, backwards):
    """`[steps, early, late]`: the number of steps, and the mean per-step
    gradient norm over the first and last tenth of them, in the order the
    layer reads the sequence."""
    per_step = tf.sqrt(tf.reduce_sum(tf.square(sequence_grad), axis=[0, 2]))
    if backwards:
        per_step = tf.reverse(per_step, axis=[0])
    steps = tf.size(per_step)
    tenth = tf.maximum(steps // 10, 1)
    return [
        tf.cast(steps, tf.float32),
        tf.reduce_mean(per_step[:tenth]),
        tf.reduce_mean(per_step[steps - tenth :]),
    ]
