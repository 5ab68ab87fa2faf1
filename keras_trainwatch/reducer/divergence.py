"""Noticing that training diverged (a non-finite loss), rescuing it by a
rollback, and the error that ends a run which cannot be rescued."""

from __future__ import annotations

import logging
import math

from keras_trainwatch.reducer.announce import shortest
from keras_trainwatch.reducer.rollback import Rollback

LOGGER = logging.getLogger("keras_trainwatch")


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
        "such a run, create the reducer with `rollback=True` (and "
        "`rollback_dir=...` to keep the snapshot on disk, for a model too "
        "large to copy in memory): it restores the last healthy weights "
        "and optimizer state, lowers the rate and carries on."
    )


def is_finite(value) -> bool:
    """Whether `value` (a number or `None`) is a finite number."""
    return value is not None and math.isfinite(float(value))


class Rescue:
    """What the reducer does when training cannot go on from where it is: a
    rollback to the last healthy state (at most `max_rollbacks` in a `fit`,
    then a stop), or, without rollback, an error at once.

    Args:
        rollback: The reducer's `Rollback`, or `None` without rollback.

    Example:

    ```python
    rescue = Rescue(Rollback(max_rollbacks=3))
    reason = rescue.non_finite(model, handles, step, "non-finite loss")
    if reason is not None:
        reduce_rates(handles, ...)   # the restored rate, lowered
    ```
    """

    def __init__(self, rollback: Rollback | None):
        self.rollback = rollback

    def non_finite(self, model, handles, step, cause) -> str | None:
        """Rolls back, or raises `TrainingDivergedError` without rollback:
        NaN epochs teach nothing and hide when things went wrong.

        Returns:
            The reason of the reduction due after a rollback, or `None`
            when the rollbacks are spent (training is stopped).
        """
        if self.rollback is None:
            raise diverged(cause)
        return self.roll_back(model, handles, step, cause)

    def roll_back(self, model, handles, step, cause) -> str | None:
        """Restores the last healthy weights and optimizer state, keeping the
        rates in effect now (for the caller to lower).

        Returns:
            The reason of the reduction due now, or `None` when the
            rollbacks are spent: the healthy state is restored and
            training stopped.
        """
        # The snapshot holds older learning-rate variables: keep the current
        # rates, which the reduction after the rollback lowers.
        rates = [(h, h.value()) for h in handles if not h.is_schedule]
        if not self.rollback.restore(step):
            LOGGER.error(
                "AutoLRReducer: giving up after %d rollbacks: %s. The last "
                "healthy weights are restored and training is stopped. Each "
                "attempt failed again at a lower rate (now %s): start from a "
                "lower learning rate, pass a smaller `factor` to lower it "
                "faster, or fix what the findings name (an initialization "
                "too large, no normalization) if a lower rate does not help.",
                self.rollback.count,
                cause,
                ", ".join(shortest(rate) for _, rate in rates) or "unknown",
            )
            model.stop_training = True
            return None
        for handle, rate in rates:
            handle.set(rate)
        model.reset_metrics()
        return f"rollback {self.rollback.count} after {cause}"
