"""Lowering the rate of every optimizer of a model, and reporting the rates
in Keras's `logs` dict as `ReduceLROnPlateau` does."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch.learning_rate import LearningRateHandle, Reduction


def reduce_rates(
    handles: Sequence[LearningRateHandle],
    factor: float,
    min_lr: float,
    epoch: int,
    step: int | None,
    reason: str,
) -> list[Reduction]:
    """Multiplies every rate by `factor`, none below `min_lr`.

    Args:
        handles: The model's optimizers' rates.
        factor: In (0, 1).
        min_lr: The lowest rate.
        epoch: The 0-based epoch, for the record.
        step: The global step, for the record.
        reason: Why, for the record.

    Returns:
        A `Reduction` per rate that was lowered (none at `min_lr`).
    """
    reductions = []
    for handle in handles:
        result = handle.reduce(factor, min_lr)
        if result is not None:
            old, new = result
            reductions.append(
                Reduction(epoch, step, handle.name, old, new, reason)
            )
    return reductions


def rates_into_logs(handles: Sequence[LearningRateHandle], logs: dict) -> None:
    """Puts the rates in effect into `logs`: `learning_rate` for one
    optimizer (as `ReduceLROnPlateau`), `learning_rate_<name>` for each of
    several."""
    rates = {handle.name: handle.value() for handle in handles}
    if len(rates) == 1:
        logs["learning_rate"] = next(iter(rates.values()))
        return
    for name, rate in rates.items():
        logs[f"learning_rate_{name}"] = rate
