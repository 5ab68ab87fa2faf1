"""What kind of loss a model was compiled with, from what Keras records."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from keras_trainwatch._host import to_numpy

CATEGORICAL = frozenset({"categorical_crossentropy", "CategoricalCrossentropy"})
SPARSE_CATEGORICAL = frozenset(
    {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"}
)
BINARY = frozenset({"binary_crossentropy", "BinaryCrossentropy"})
SQUARED = frozenset({"mean_squared_error", "MeanSquaredError", "mse"})
ABSOLUTE = frozenset({"mean_absolute_error", "MeanAbsoluteError", "mae"})
REGRESSION = (
    SQUARED
    | ABSOLUTE
    | frozenset(
        {
            "huber",
            "Huber",
            "mean_squared_logarithmic_error",
            "MeanSquaredLogarithmicError",
            "msle",
        }
    )
)


def loss_name_and_logits(loss) -> tuple[str | None, bool]:
    """`(name, from_logits)` of a loss given to `compile`: a string, a
    `keras.losses.Loss` (its class name) or a function (its name)."""
    if loss is None:
        return None, False
    if isinstance(loss, str):
        return loss, False
    if isinstance(loss, keras.losses.Loss):
        config = loss.get_config()
        return type(loss).__name__, bool(config.get("from_logits", False))
    return getattr(loss, "__name__", None), False


def losses_by_output(model: keras.Model, count: int) -> Sequence:
    """The loss given to `compile` for each of the model's `count` outputs."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        return [loss.get(name) for name in model.output_names]
    if isinstance(loss, (list, tuple)):
        return list(loss) + [None] * (count - len(loss))
    return [loss] * count


def compiled_losses(model: keras.Model) -> list:
    """The losses given to `compile`, as a list (one per output it names)."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        return list(loss.values())
    if isinstance(loss, (list, tuple)):
        return list(loss)
    return [] if loss is None else [loss]


def single_loss_and_targets(model: keras.Model, targets):
    """`(loss name, targets as float64)` of a model compiled with one loss
    and a probe batch with one target array, else `None`."""
    flat = keras.tree.flatten(targets)
    losses = compiled_losses(model)
    if len(flat) != 1 or flat[0] is None or len(losses) != 1:
        return None
    name, _ = loss_name_and_logits(losses[0])
    return name, to_numpy(flat[0]).astype(np.float64)


def is_regression(model: keras.Model) -> bool:
    """Whether every loss the model was compiled with is a regression
    loss (so the targets' scale matters)."""
    names = [loss_name_and_logits(loss)[0] for loss in compiled_losses(model)]
    return bool(names) and all(name in REGRESSION for name in names)
