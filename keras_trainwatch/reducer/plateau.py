"""Counting epochs without improvement: `ReduceLROnPlateau`'s rule, pure,
and its `mode="auto"`."""

from __future__ import annotations

from typing import Literal

from keras_trainwatch import _keras_compat
from keras_trainwatch._validation import integer_at_least, one_of

# How the reason of a plateau reduction starts.
PLATEAU_REASON = "no improvement of"


class PlateauCounter:
    """Decides when a monitored value has stopped improving.

    The same rule as `keras.callbacks.ReduceLROnPlateau`: a value improves on
    the best one by more than `min_delta` in the direction of `mode`; after
    `patience` epochs without improvement a reduction is due; after a
    reduction, `cooldown` epochs pass before patience counts again (the
    counter is reset during them).

    Args:
        mode: `"min"` or `"max"`: which way is better; or `"auto"`, decided
            by `resolve_mode` before the first `update`.
        min_delta: Minimum change that counts as an improvement (its sign is
            ignored).
        patience: Integer >= 0.
        cooldown: Integer >= 0.

    Example:

    ```python
    counter = PlateauCounter("min", min_delta=1e-4, patience=2, cooldown=0)
    [counter.update(v) for v in (1.0, 1.0, 1.0)]  # [False, False, True]
    counter.reduced()
    ```
    """

    def __init__(
        self,
        mode: Literal["min", "max", "auto"],
        min_delta: float,
        patience: int,
        cooldown: int,
    ):
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.min_delta = abs(float(min_delta))
        self.patience = integer_at_least("patience", patience, 0)
        self.cooldown = integer_at_least("cooldown", cooldown, 0)
        self.reset()

    def reset(self) -> None:
        """Forgets the best value and both counters (a new `fit`)."""
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def resolve_mode(self, model, monitor: str) -> None:
        """Decides `mode="auto"` for `monitor` (see `monitor_mode`)."""
        if self.mode == "auto":
            self.mode = monitor_mode(model, monitor)

    def in_cooldown(self) -> bool:
        """Whether a recent reduction still holds further ones back."""
        return self.cooldown_counter > 0

    def is_improvement(self, value: float) -> bool:
        """Whether `value` beats the best by more than `min_delta`."""
        if self.best is None:
            return True
        if self.mode == "auto":
            raise RuntimeError("PlateauCounter: call resolve_mode first")
        if self.mode == "min":
            return value + self.min_delta < self.best
        return value - self.min_delta > self.best

    def update(self, value: float) -> bool:
        """Counts one epoch's value.

        Returns:
            Whether a reduction is due now; call `reduced()` if one was made.
        """
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(value):
            self.best = value
            self.wait = 0
            return False
        if self.in_cooldown():
            return False
        self.wait += 1
        return self.wait >= self.patience

    def tick_cooldown(self) -> None:
        """Counts one epoch of cooldown when there is no value to monitor."""
        if self.in_cooldown():
            self.cooldown_counter -= 1

    def reduced(self) -> None:
        """A reduction was made: cooldown starts, patience starts over."""
        self.cooldown_counter = self.cooldown
        self.wait = 0


def monitor_mode(model, monitor: str) -> Literal["min", "max"]:
    """`mode="auto"` for `monitor`, resolved as `ReduceLROnPlateau` resolves
    it: from the direction of the compiled metric of that name, `"min"` for
    a loss.

    Raises:
        ValueError: When the direction cannot be told.
    """
    name = monitor.removeprefix("val_")
    direction = _keras_compat.metric_direction(model, name)
    if direction is None and name == "loss":
        direction = "down"
    if direction is None:
        raise ValueError(
            f"AutoLRReducer callback received monitor={monitor}, but "
            "Keras isn't able to automatically determine whether that "
            "metric should be maximized or minimized. Pass `mode='max'` "
            "in order to monitor based on the highest metric value, or "
            "pass `mode='min'` in order to use the lowest value."
        )
    return "max" if direction == "up" else "min"


def plateau_attribute(name: str, doc: str) -> property:
    """A property reading and setting the `PlateauCounter`'s `name` through
    the owner's `_plateau`, as `ReduceLROnPlateau` exposes its state."""
    return property(
        lambda owner: getattr(owner._plateau, name),
        lambda owner, value: setattr(owner._plateau, name, value),
        doc=doc,
    )
