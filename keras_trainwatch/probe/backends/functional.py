"""The probe for backends whose gradients come from a function of the
weights (JAX's `jax.value_and_grad`, PyTorch's `torch.autograd.grad`).

The forward pass and the statistics are the shared ones (`ProbeForward`,
`reduce_to_statistics`); a backend's `GradientEngine` brings the gradient
call, the compilation and the host read. Every variable the forward pass
reads is handed over as an argument (the trainable ones to differentiate,
the others as they are now), so a compiled probe never keeps a value from
the time it was traced, and nothing the pass assigns leaves its
`StatelessScope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import keras
from keras import ops

from keras_trainwatch import _keras_compat
from keras_trainwatch.probe.base import ProbeBase
from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.forward import (
    GradientPassResult,
    ProbeForward,
    loss_scale,
)
from keras_trainwatch.probe.statistics import (
    ProbeStatistics,
    reduce_to_statistics,
)
from keras_trainwatch.records import ProbeRecord


class GradientEngine(Protocol):
    """What a backend brings to `FunctionalProbe`."""

    def reached(self, loss_of_weights: Callable, weights: list) -> list[bool]:
        """Which weights the scalar `loss_of_weights(weights)` depends on."""

    def value_and_gradients(
        self, function: Callable, weights: list
    ) -> tuple[Any, Any, list, list | None]:
        """`(value, aux, weight_gradients, sequence_gradients)` of
        `function(weights) -> (scalar, aux)`, where `aux[-1]` holds the
        sequences (`sequence_gradients` is `None` where the backend cannot
        differentiate a layer output; a weight the value does not reach gets
        `None` or zeros)."""

    def no_gradient_recording(self):
        """A context in which operations are not recorded for gradients."""

    def random_state_kept(self):
        """A context that puts the backend's global random state back."""

    compiles: bool
    """Whether `compile` traces the function (else it runs eagerly)."""

    def compile(self, function: Callable) -> Callable:
        """`function`, compiled where the backend compiles."""

    def read(self, statistics: ProbeStatistics) -> ProbeStatistics:
        """The statistics as numpy arrays, in one wait for the device."""


class FunctionalProbe(ProbeBase):
    """Measures per-layer gradient statistics of a model on a fixed batch,
    on JAX or PyTorch.

    Subclasses name their backend's engine in `engine_class`
    (`JaxProbe`, `TorchProbe`); `keras_trainwatch.probe.GradientProbe` is
    the one of the running backend.

    Args:
        model: A built, compiled Keras model.
        batch: The fixed probe batch.
        histograms: Whether to also bucket every gradient into a histogram
            (for TensorBoard), read with `last_histograms`.

    Example:

    ```python
    # KERAS_BACKEND=jax
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    record = probe(epoch=0, step=0)
    print(record.layers[0].grad_norm)
    ```
    """

    engine_class: type[GradientEngine]
    replicas = 1
    keeps_first_probe = False

    def __init__(
        self, model: keras.Model, batch: ProbeBatch, histograms: bool = False
    ):
        super().__init__(model, batch, histograms)
        self._engine = self.engine_class()
        self._forward = ProbeForward(model, self.layout)
        self._batch = (batch.x, batch.y, batch.sample_weight)
        trainable = {id(v) for v in self.layout.variables}
        # Every other variable the forward pass reads (batch-norm
        # statistics, seed states, frozen weights), handed over at each
        # call: a compiled probe must not keep their values from its trace.
        self._others = [v for v in model.variables if id(v) not in trainable]
        self._function = self._engine.compile(self._statistics)
        self._calls_traced = 0

    @property
    def tracing_count(self) -> int:
        """How many times the compiled function has been traced (0 where
        the backend runs the probe eagerly)."""
        return self._calls_traced if self._engine.compiles else 0

    def release_first_probe(self) -> None:
        """Nothing to release: the first probe is not kept ahead."""

    def validate(self) -> None:
        """Fails now if the batch does not fit the model: finds the
        variables the loss reaches (tracing the pass once)."""
        with self._engine.random_state_kept():
            self._find_connected(self._arguments())

    def __call__(self, epoch: int, step: int) -> ProbeRecord:
        """Runs one probe.

        Args:
            epoch: 0-based epoch, recorded in the result.
            step: Global training step, recorded in the result.

        Returns:
            A `ProbeRecord`.
        """
        arguments = self._arguments()
        with self._engine.random_state_kept():
            if self._connected is None:
                self._find_connected(arguments)
            values = self._engine.read(self._function(*arguments))
        return self._record(values, epoch, step)

    def _arguments(self) -> tuple:
        _keras_compat.sync_model_state(self.model)
        trainable = [v.value for v in self.layout.variables]
        others = [v.value for v in self._others]
        scale = loss_scale(self.model)
        return (trainable, others, scale, *self._batch)

    def _find_connected(self, arguments) -> None:
        trainable, others, scale, x, y, sample_weight = arguments

        def loss_of_weights(weights):
            return self._pass_function(others, scale, x, y, sample_weight)(
                weights
            )[0]

        self._set_connected(self._engine.reached(loss_of_weights, trainable))

    def _pass_function(self, others, scale, x, y, sample_weight):
        """`weights -> (scaled loss, (loss, dead, saturated, sequences))`."""
        variables = self.layout.variables
        rest = list(zip(self._others, others))

        def function(weights):
            forward = self._forward(
                x, y, sample_weight, list(zip(variables, weights)) + rest
            )
            with self._engine.no_gradient_recording():
                dead, saturated = self._forward.reduce_outputs(
                    [ops.stop_gradient(a) for a in forward.activations],
                    [ops.stop_gradient(s) for s in forward.saturating],
                )
            scaled = forward.loss if scale is None else forward.loss * scale
            return scaled, (forward.loss, dead, saturated, forward.sequences)

        return function

    def _statistics(self, trainable, others, scale, x, y, sample_weight):
        self._calls_traced += 1
        function = self._pass_function(others, scale, x, y, sample_weight)
        _, aux, grads, sequence_grads = self._engine.value_and_gradients(
            function, trainable
        )
        loss, dead, saturated, sequences = aux
        regularization = self._regularization_gradients(trainable)
        with self._engine.no_gradient_recording():
            if scale is not None:
                grads = [None if g is None else g / scale for g in grads]
            result = GradientPassResult(
                loss=loss,
                weights=list(trainable),
                gradients=list(grads),
                dead_units=dead,
                saturated=saturated,
                sequences=list(sequences),
                sequence_gradients=sequence_grads
                if sequence_grads is not None
                else [None] * len(sequences),
                regularization_gradients=regularization,
            )
            return reduce_to_statistics(
                result, self.layout, self._connected, 1, self.histograms
            )

    def _regularization_gradients(self, trainable):
        result = [None] * len(trainable)
        regularized, _ = self._forward.regularization_terms(trainable)
        if not regularized:
            return result

        def total(weights):
            _, terms = self._forward.regularization_terms(weights)
            return ops.sum(ops.stack(terms)), ((),)

        _, _, grads, _ = self._engine.value_and_gradients(total, trainable)
        for i in regularized:
            result[i] = grads[i]
        return result
