"""Making the probe for a model: build what `fit` would build, check the
probe batch against it, and say which layers cannot be fully checked."""

from __future__ import annotations

import logging

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch.probe.backends import probe_class
from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.errors import (
    MODEL_ERRORS,
    ModelComputationError,
    model_computation,
)
from keras_trainwatch.probe.forward import reads_loss_scale
from keras_trainwatch.probe.layout import ModelLayout

LOGGER = logging.getLogger("keras_trainwatch")


def build_probe(
    model: keras.Model, batch: ProbeBatch, histograms: bool = False
):
    """A checked `GradientProbe` (the running backend's) for `model`,
    ready for the initial probe.

    What TensorFlow's `fit` builds only while tracing its first step (the
    layers of a subclassed model, the compiled loss and metrics, the
    optimizer's state) is built here, the way Keras builds it under a
    distribution strategy: the same variables, in the same order, with the
    same initial values. Built inside the probe's trace instead, a
    multi-output loss would make TensorFlow trace the probe a second time.

    Args:
        model: A compiled Keras model.
        batch: The probe batch.
        histograms: Whether the probe buckets gradients for TensorBoard.

    Returns:
        The probe, its batch checked against the model.

    Raises:
        MissingLossError: If the model has no loss.
        ValueError: If the batch does not fit the model (the model's own
            computation fails on it).
    """
    if batch.y is None and _keras_compat.compiled_loss(model) is not None:
        raise ValueError(
            "Invalid value received for argument `probe_data`. Expected "
            "`(x, y)` or `(x, y, sample_weight)`: model "
            f"'{model.name}' is compiled with a loss, which needs targets. "
            "Received: inputs without targets."
        )
    try:
        unbuilt = _keras_compat.needs_build(model)
        if unbuilt:
            with model_computation("building the model on the probe batch"):
                _keras_compat.build_like_fit(
                    model, (batch.x, batch.y, batch.sample_weight)
                )
            # The optimizer's state comes after the first probe unless the
            # probe reads it: built first, it takes memory that the probe's
            # temporary tensors would otherwise leave for it to reuse
            # (VGG16's eager first probe touched twice as many new pages,
            # `benchmarks/setup_cost.py --parts`).
            if reads_loss_scale(model):
                _keras_compat.build_optimizer(model)
        probe = probe_class()(model, batch, histograms=histograms)
        probe.validate()
        if unbuilt:
            _keras_compat.build_optimizer(model)
    except MODEL_ERRORS as error:
        # Only the model's own computation: an error of the probe's code is a
        # bug of this package and surfaces as it is.
        raise ValueError(
            "Argument `probe_data` does not fit the model "
            f"'{model.name}': {_model_failure(error)}"
        ) from error
    announce_limits(probe.layout)
    return probe


def _model_failure(error) -> str:
    if not isinstance(error, ModelComputationError):
        return (
            "computing its loss and gradients failed with "
            f"{type(error).__name__}: {getattr(error, 'message', error)}"
        )
    return str(error)


def announce_limits(layout: ModelLayout) -> None:
    """Logs, once per probe, the ReLU layers whose dead units are inferred
    from gradients or cannot be checked at all."""
    inferred = [r.name for r in layout.gradient_relus]
    if inferred:
        LOGGER.warning(
            "GradientWatch: the outputs of ReLU layers %s cannot be "
            "reached (a subclassed or nested model); their dead units are "
            "inferred from units whose weights and bias get exactly zero "
            "gradient.",
            ", ".join(inferred),
        )
    if layout.unchecked_relu_layers:
        LOGGER.warning(
            "GradientWatch: ReLU layers %s cannot be checked for dead "
            "units (their outputs cannot be reached and they have no "
            "kernel of their own).",
            ", ".join(layout.unchecked_relu_layers),
        )
