"""The GradientTape probe: model + fixed batch -> `ProbeRecord`.

One `tf.function`, traced once, runs the gradient pass on every replica
(`gradient_pass.py`) and reduces it on the device to a few named tensors
(`statistics.py`); only those are copied to the host, inside the function,
so the end of the call is the one point per probe where the host waits for
the device.

What the first probe costs is paid before the first training step, so it is
kept small: the compiled function skips Grappler's graph rewriting (the
larger half of its first call, with no gain for the probe), and on a single
replica the first probe runs the same code eagerly, tracing the function at
the second probe, once training is under way. That eager probe is also the
check of the probe batch at `set_model`: its statistics stand as the first
probe when the weights are still the ones it measured
(`benchmarks/setup_cost.py`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import NamedTuple

import keras
import tensorflow as tf

from keras_trainwatch._host import to_numpy
from keras_trainwatch.probe.backends.tensorflow import (
    graph_options as _tf_compat,
)
from keras_trainwatch.probe.backends.tensorflow.gradient_pass import (
    GradientPass,
)
from keras_trainwatch.probe.base import ProbeBase
from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.statistics import (
    ProbeStatistics,
    read,
    reduce_to_statistics,
)
from keras_trainwatch.records import ProbeRecord

_LOG = logging.getLogger("keras_trainwatch")


class TensorFlowProbe(ProbeBase):
    """Measures per-layer gradient statistics of a model on a fixed batch.

    The work is one `tf.function`, traced once and reused for every probe.
    On a single replica the first probe runs the same code eagerly (in
    `validate()`, kept until the first call while the weights stay) and the
    function is traced at the second (a run probed once pays no trace);
    under a multi-replica strategy it is traced by `validate()`.

    Args:
        model: A built, compiled Keras model.
        batch: The fixed probe batch.
        histograms: Whether to also bucket every gradient into a histogram
            (for TensorBoard), read with `last_histograms`.

    Example:

    ```python
    probe = TensorFlowProbe(model, ProbeBatch.from_data((x, y)))
    record = probe(epoch=0, step=0)
    print(record.layers[0].grad_norm)
    ```
    """

    def __init__(
        self, model: keras.Model, batch: ProbeBatch, histograms: bool = False
    ):
        super().__init__(model, batch, histograms)
        self._strategy = (
            getattr(model, "distribute_strategy", None)
            or tf.distribute.get_strategy()
        )
        self._replicas = self._strategy.num_replicas_in_sync
        self._batch = _split(batch, self._strategy)
        self._gradient_pass = GradientPass(model, self.layout)
        self._calls = 0
        self._traced = False
        self.eager_first = self._replicas == 1
        self._early: _EarlyProbe | None = None

        # Without autograph: converting the call stack costs more than a
        # second at the first trace, and buys nothing, since Keras layer code
        # is not converted in Keras's own training step either (a layer that
        # branches on a tensor in Python fails there too).
        # A function of its own per probe (not the shared method), so that
        # TensorFlow does not count several probes' traces as retracing.
        def statistics(x, y, sample_weight):
            return self._statistics(x, y, sample_weight)

        self._function = tf.function(statistics, autograph=False)

    @property
    def tracing_count(self) -> int:
        """How many times the compiled function has been traced."""
        return self._function.experimental_get_tracing_count()

    @property
    def replicas(self) -> int:
        """Replicas the probe batch is split over (1 without a strategy)."""
        return self._replicas

    @property
    def keeps_first_probe(self) -> bool:
        """Whether the eager probe of `validate()` is kept for the first
        call."""
        return self._early is not None

    def release_first_probe(self) -> None:
        """Drops the probe kept by `validate()`: once training updates the
        weights, its reads of them hold a copy. The first call then probes
        afresh."""
        self._early = None

    def trace(self) -> None:
        """Traces the compiled function now."""
        self._function.get_concrete_function(*self._batch)
        self._traced = True

    def validate(self) -> None:
        """Fails now if the batch does not fit the model.

        On one replica this runs the first probe itself, eagerly, and keeps
        its statistics with the weights they were measured on: the first
        call reuses them while the weights are unchanged (in
        `fit`, `set_model` comes just before the first probe; a callback
        that restores a backup in between changes them, and the probe runs
        again). Under a multi-replica strategy it traces the function.
        """
        if self.eager_first:
            weights = self._weights_now()
            values = self._eager_or_none()
            if values is not None:
                self._early = _EarlyProbe(values, weights)
                return
        self.trace()

    def __call__(self, epoch: int, step: int) -> ProbeRecord:
        """Runs one probe.

        Args:
            epoch: 0-based epoch, recorded in the result.
            step: Global training step, recorded in the result.

        Returns:
            A `ProbeRecord`.
        """
        values = None
        early, self._early = self._early, None  # only before the first call
        if early is not None and self._weights_unchanged(early.weights):
            values = early.values
        if values is None and self._calls == 0 and self.eager_first:
            values = self._eager_or_none()
        if values is None:
            values = self._compiled()
        self._calls += 1
        return self._record(values, epoch, step)

    def _eager_or_none(self) -> ProbeStatistics | None:
        """The statistics computed eagerly, or `None` when that ran out of
        device memory."""
        try:
            with _quiet_eager_retracing():
                return self._eager()
        except tf.errors.ResourceExhaustedError:
            # Eager execution keeps more intermediate tensors alive than the
            # compiled graph: on a device near its memory limit, the
            # compiled probe may still fit.
            _LOG.info(
                "GradientWatch: the eager first probe ran out of memory; "
                "probing with the compiled function instead."
            )
            self.eager_first = False
            return None

    def _eager(self) -> ProbeStatistics:
        return read(self._statistics(*self._batch))

    def _weights_now(self) -> list:
        """The trainable variables' current values. Held, they keep the
        buffers they read: TensorFlow copies a variable's buffer before an
        in-place update while a read of it is alive."""
        return [tf.identity(v.value) for v in self.layout.variables]

    def _weights_unchanged(self, weights: list) -> bool:
        unchanged = [
            tf.reduce_all(tf.equal(before, v.value))
            for before, v in zip(weights, self.layout.variables)
        ]
        return bool(to_numpy(tf.reduce_all(tf.stack(unchanged))))

    def _compiled(self) -> ProbeStatistics:
        if not self._traced:
            # Traced outside the call: TensorFlow counts traces inside calls
            # per Python function, shared by every probe, and would warn of
            # retracing after a few watched models.
            self.trace()
        with _tf_compat.graph_optimization_off():
            return read(self._function(*self._batch))

    def _statistics(self, x, y, sample_weight) -> ProbeStatistics:
        """Runs on every replica; the statistics, computed from gradients and
        activations summed over the replicas, are the same on each."""
        per_replica = self._strategy.run(
            self._replica_statistics, args=(x, y, sample_weight)
        )
        # Copied to the host as part of the call: reading them afterwards
        # waits for nothing more.
        with tf.device("/CPU:0"):
            return tf.nest.map_structure(
                lambda value: tf.identity(
                    self._strategy.experimental_local_results(value)[0]
                ),
                per_replica,
            )

    def _replica_statistics(self, x, y, sample_weight):
        result = self._gradient_pass(x, y, sample_weight)
        self._find_connected(result)
        return reduce_to_statistics(
            result,
            self.layout,
            self._connected,
            self._replicas,
            self.histograms,
        )

    def _find_connected(self, result):
        # Found at trace time, where the tape gives None for a variable the
        # loss does not reach; every replica thread traces this and finds
        # the same list.
        if self._connected is None:
            self._set_connected([g is not None for g in result.gradients])


def _split(batch: ProbeBatch, strategy: tf.distribute.Strategy) -> tuple:
    """`(x, y, sample_weight)` ready for `strategy.run`: with one replica,
    the tensors; with several, an equal slice per replica (samples beyond a
    multiple of the replica count are left out).

    Raises:
        ValueError: If the batch has fewer samples than replicas.
    """
    replicas = strategy.num_replicas_in_sync
    parts = (batch.x, batch.y, batch.sample_weight)
    if replicas == 1:
        return parts
    per_replica = batch.size // replicas
    if per_replica == 0:
        raise ValueError(
            "Argument `probe_data` must have at least one sample per "
            f"replica: {replicas} replicas, {batch.size} sample(s)."
        )

    def replica_slice(context):
        start = context.replica_id_in_sync_group * per_replica
        return keras.tree.map_structure(
            lambda t: None if t is None else t[start : start + per_replica],
            parts,
        )

    return strategy.experimental_distribute_values_from_function(replica_slice)


class _EarlyProbe(NamedTuple):
    """The eager probe run by `validate`, kept for the first call."""

    values: ProbeStatistics
    weights: list


class _RetracingFromThisThread(logging.Filter):
    """Rejects TensorFlow's retracing warnings logged on the thread that
    made the filter."""

    def __init__(self):
        super().__init__()
        self._thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.thread == self._thread
            and "triggered tf.function retracing" in record.getMessage()
        )


@contextlib.contextmanager
def _quiet_eager_retracing():
    """Drops TensorFlow's retracing warnings raised on this thread.

    Run eagerly, Keras's TensorFlow backend wraps each grouped convolution
    (ConvNeXt's depthwise 7x7, for one) in a new XLA-compiled `tf.function`
    per call, and TensorFlow warns of retracing after five: a warning about
    Keras's internals, caused by the watch, that users cannot act on. Their
    own code's warnings, on other threads or outside the eager probe, pass.
    """
    logger = tf.get_logger()
    quiet = _RetracingFromThisThread()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
