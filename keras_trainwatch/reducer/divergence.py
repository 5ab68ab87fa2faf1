"""Noticing that training diverged (a non-finite loss), and the error that
ends a run which cannot be rescued."""

from __future__ import annotations

import math

from keras_trainwatch._host import to_numpy


class TrainingDivergedError(RuntimeError):
    """Raised by `AutoLRReducer` (without `rollback`) when the loss or the
    gradients turn non-finite. Raising, rather than setting
    `model.stop_training`, ends `fit` without `on_train_end`, so that a
    `keras.callbacks.BackupAndRestore` keeps its backup to resume from
    (keras-team/keras#21771)."""


def diverged(cause: str) -> TrainingDivergedError:
    """The error that stops a run that diverged, with how to rescue it.

    Args:
        cause: What went non-finite, and when.
    """
    return TrainingDivergedError(
        f"AutoLRReducer stopped training: {cause}. Lowering the learning "
        "rate cannot repair weights that are already non-finite. To rescue "
        "such a run, create the reducer with `rollback=True`: it restores "
        "the last healthy weights and optimizer state, lowers the rate and "
        "carries on."
    )


def is_finite(value) -> bool:
    """Whether `value` (a number or `None`) is a finite number."""
    return value is not None and math.isfinite(float(value))


def step_loss(logs) -> float | None:
    """The loss in the logs a train function returned (tensors), or `None`
    when there is none (a custom train function may return something else
    than Keras's dict of logs)."""
    loss = logs.get("loss") if isinstance(logs, dict) else None
    return None if loss is None else float(to_numpy(loss).item())
