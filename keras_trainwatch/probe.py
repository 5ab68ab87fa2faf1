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
import numpy as np
import tensorflow as tf
from keras.src import backend as keras_backend

from keras_trainwatch import tensor_stats
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
        self._gradient_hook = gradient_hook
        self._strategy = (
            getattr(model, "distribute_strategy", None)
            or tf.distribute.get_strategy()
        )
        self._replicas = self._strategy.num_replicas_in_sync
        self._batch = batch.split(self._strategy)
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
        # A function of its own per probe (not the shared method), so that
        # TensorFlow does not count several probes' traces as retracing.
        def statistics(x, y, sample_weight, step):
            return self._statistics(x, y, sample_weight, step)

        self._function = tf.function(statistics, autograph=False)

    @property
    def tracing_count(self) -> int:
        """How many times the compiled function has been traced."""
        return self._function.experimental_get_tracing_count()

    @property
    def replicas(self) -> int:
        """Replicas the probe batch is split over (1 without a strategy)."""
        return self._replicas

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
        return (*self._batch, tf.constant(step, tf.int64))

    def _statistics(self, x, y, sample_weight, step):
        """Runs on every replica; the statistics, computed from gradients and
        activations summed over the replicas, are the same on each."""
        stats, grads = self._strategy.run(
            self._replica_statistics, args=(x, y, sample_weight)
        )
        stats = self._strategy.experimental_local_results(stats)[0]
        if self._gradient_hook is not None:
            grads = self._strategy.experimental_local_results(grads)[0]
            names = [self.layout.variable_names[i] for i in self._connected]
            self._gradient_hook(names, grads, step)
        return stats

    def _replica_statistics(self, x, y, sample_weight):
        variables = self.layout.variables
        values = [tf.identity(v.value) for v in variables]
        scaling = self._loss_scaling()
        # Two gradients under a LossScaleOptimizer: the scaled one avoids
        # float16 underflow (tiny gradients reading as vanishing), the plain
        # one stands in where the scale overflows.
        with tf.GradientTape(persistent=scaling is not None) as tape:
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
                loss = tf.cast(
                    self._compute_loss(x, y, y_pred, sample_weight), tf.float32
                )
            scaled_loss = loss if scaling is None else loss * scaling
        sources = values + list(sequences)
        grads = tape.gradient(scaled_loss, sources)
        if scaling is not None:
            grads = _unscaled(grads, scaling, tape.gradient(loss, sources))
        grads, sequence_grads = grads[: len(values)], grads[len(values) :]
        if self._connected is None:
            self._connected = [i for i, g in enumerate(grads) if g is not None]
            self._log_disconnected()

        stats = [tensor_stats.sum_over_replicas(loss)]
        summed = {}
        for i in self._connected:
            grad, weight = tensor_stats.gradient_and_weight(
                grads[i], values[i], self._replicas
            )
            summed[i] = tf.cast(grad, tf.float32)
            stats += [
                tensor_stats.l2_norm(summed[i]),
                tensor_stats.l2_norm(weight),
                tensor_stats.nonfinite_count(summed[i]),
            ]
        dead_counts = [
            (
                relu,
                tensor_stats.dead_units_from_output(
                    activation, relu.channel_axis
                ),
            )
            for relu, activation in zip(
                self.layout.activation_relus, activations
            )
        ]
        for relu in self.layout.gradient_relus:
            if relu.kernel_index in summed:
                dead_counts.append(
                    (
                        relu,
                        tensor_stats.dead_units_from_gradients(
                            summed[relu.kernel_index],
                            summed.get(relu.bias_index),
                        ),
                    )
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
            stats += tensor_stats.early_and_late(grad, recurrent.backwards)
        hook_grads = (
            [summed[i] for i in self._connected] if self._gradient_hook else []
        )
        return tf.stack([tf.cast(s, tf.float64) for s in stats]), hook_grads

    def _compute_loss(self, x, y, y_pred, sample_weight):
        # `_compute_loss` copes with `compute_loss` overrides that predate
        # the `training` argument (Keras < 3.3 signatures).
        compute = getattr(self.model, "_compute_loss", None)
        if compute is None:
            return self.model.compute_loss(x, y, y_pred, sample_weight)
        return compute(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )

    def _loss_scaling(self):
        """The optimizer's loss scale as a float32 tensor, or `None` when the
        loss is not scaled."""
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and (
            getattr(optimizer, "loss_scale_factor", None) is None
        ):
            return None
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
