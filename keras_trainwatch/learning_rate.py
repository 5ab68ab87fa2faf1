"""Reading and lowering an optimizer's learning rate, whatever its form.

Keras optimizers hold their learning rate as a variable, a
`LearningRateSchedule` or a callable, possibly inside a
`LossScaleOptimizer`. A plain rate is lowered by assigning its variable. A
schedule cannot be assigned (`ReduceLROnPlateau` raises `TypeError`), so it is
wrapped once in a `ScaledSchedule` whose scale is a variable: the schedule
keeps its shape, scaled by the accumulated reduction, and the compiled
training step reads the new scale without being retraced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import keras
import numpy as np

from keras_trainwatch import _keras_compat
from keras_trainwatch._host import to_numpy

_Schedule = keras.optimizers.schedules.LearningRateSchedule


@dataclasses.dataclass(frozen=True)
class Reduction:
    """One learning-rate reduction.

    Args:
        epoch: 0-based epoch.
        step: Global training step, or `None` when it cannot be known (no
            optimizer and no watch).
        optimizer: The optimizer's name.
        old_lr: Rate before.
        new_lr: Rate after.
        reason: Why, e.g. `"exploding gradients in layer dense_3"`.
    """

    epoch: int
    step: int | None
    optimizer: str
    old_lr: float
    new_lr: float
    reason: str


@keras.saving.register_keras_serializable(package="keras_trainwatch")
class ScaledSchedule(_Schedule):
    """A learning-rate schedule multiplied by an adjustable scale.

    Args:
        schedule: The `LearningRateSchedule` to scale.
        scale: Initial scale, default 1.0.

    Example:

    ```python
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.9)
    scaled = ScaledSchedule(decay)
    scaled.set_scale(0.1)  # a tenth of the schedule, from now on
    ```
    """

    def __init__(self, schedule: _Schedule, scale: float = 1.0):
        self.schedule = schedule
        self.scale = keras.Variable(
            float(scale), dtype="float32", trainable=False, name="lr_scale"
        )

    def __call__(self, step):
        rate = self.schedule(step)
        return rate * keras.ops.cast(
            self.scale, keras.backend.standardize_dtype(rate.dtype)
        )

    def set_scale(self, scale: float) -> None:
        """Sets the scale (takes effect at the next training step)."""
        self.scale.assign(float(scale))

    @property
    def scale_value(self) -> float:
        """The current scale as a Python float."""
        return float(to_numpy(self.scale))

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "scale": self.scale_value,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(
            config["schedule"]
        )
        return cls(**config)


class LearningRateHandle:
    """Reads and lowers the learning rate of one optimizer.

    Args:
        optimizer: A Keras optimizer (a `LossScaleOptimizer` is looked
            through to the optimizer it wraps).

    Example:

    ```python
    handle = LearningRateHandle(model.optimizer)
    handle.reduce(0.5, min_lr=1e-5)
    ```
    """

    def __init__(
        self, optimizer: keras.optimizers.Optimizer, name: str | None = None
    ):
        self.optimizer = optimizer
        self._owner = getattr(optimizer, "inner_optimizer", optimizer)
        self._name = name

    @property
    def name(self) -> str:
        """The optimizer's name in messages, logs and TensorBoard (see
        `handles_of`)."""
        return self._name or self.optimizer.name

    @property
    def is_schedule(self) -> bool:
        """Whether the rate comes from a `LearningRateSchedule`."""
        return isinstance(
            _keras_compat.raw_learning_rate(self._owner), _Schedule
        )

    def value(self) -> float:
        """The learning rate in effect now, as a Python float."""
        return float(to_numpy(self._owner.learning_rate))

    def reduce(
        self, factor: float, min_lr: float
    ) -> tuple[float, float] | None:
        """Multiplies the learning rate by `factor`, not going below `min_lr`.

        Args:
            factor: In (0, 1).
            min_lr: Lower bound of the new rate.

        Returns:
            `(old_rate, new_rate)`, or `None` if the rate was already at or
            below `min_lr` (as `ReduceLROnPlateau` compares, in float32).
        """
        old = self.value()
        if not old > np.float32(min_lr):
            return None
        new = max(old * factor, min_lr)
        self.set(new)
        return old, new

    def set(self, rate: float) -> None:
        """Makes `rate` the learning rate in effect now.

        A schedule keeps its shape: its scale is set so that the current rate
        becomes `rate`.
        """
        if not self.is_schedule:
            self._owner.learning_rate = rate
            return
        scaled = self._scaled_schedule()
        current = self.value()
        if current > 0:
            scaled.set_scale(scaled.scale_value * rate / current)

    @property
    def schedule_scale(self) -> float:
        """The accumulated scale of a schedule (1.0 for a plain rate)."""
        schedule = _keras_compat.raw_learning_rate(self._owner)
        return (
            schedule.scale_value
            if isinstance(schedule, ScaledSchedule)
            else 1.0
        )

    def set_schedule_scale(self, scale: float) -> None:
        """Sets the accumulated scale of a schedule directly (used when
        restoring saved state); does nothing for a plain rate."""
        if self.is_schedule:
            self._scaled_schedule().set_scale(scale)

    def _scaled_schedule(self) -> ScaledSchedule:
        schedule = _keras_compat.raw_learning_rate(self._owner)
        if not isinstance(schedule, ScaledSchedule):
            schedule = ScaledSchedule(schedule)
            self._owner.learning_rate = schedule
        return schedule

    def prepare(self) -> bool:
        """Wraps a schedule before training, so that later reductions reach
        the compiled training step.

        Returns:
            `True` if a schedule was wrapped just now (a training step traced
            before must then be traced again).
        """
        if self.is_schedule and not isinstance(
            _keras_compat.raw_learning_rate(self._owner), ScaledSchedule
        ):
            self._scaled_schedule()
            return True
        return False


def prepare_schedules(model: keras.Model) -> None:
    """Wraps every optimizer's `LearningRateSchedule` in a `ScaledSchedule`
    before training, and has Keras trace the training step again if it was
    traced with the unwrapped schedule."""
    retrace = False
    for optimizer in optimizers_of(model):
        retrace |= LearningRateHandle(optimizer).prepare()
    if retrace and getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)


def optimizers_of(model: keras.Model) -> list[keras.optimizers.Optimizer]:
    """Every optimizer that trains `model`.

    `model.optimizer`, the `optimizers` of a multi-optimizer wrapper (the
    convention `ReduceLROnPlateau` follows), and optimizers kept as model
    attributes by a custom `train_step` (a GAN's `d_optimizer` and
    `g_optimizer`), each once.

    Args:
        model: A Keras model.

    Returns:
        The optimizers, `model.optimizer`'s first.
    """
    found: list[keras.optimizers.Optimizer] = []

    def add(candidates: Iterable):
        for candidate in candidates:
            if isinstance(candidate, keras.optimizers.Optimizer) and not any(
                candidate is f for f in found
            ):
                found.append(candidate)

    optimizer = getattr(model, "optimizer", None)
    add(getattr(optimizer, "optimizers", None) or [optimizer])
    add(vars(model).values())
    return found


def optimizer_step(optimizer: keras.optimizers.Optimizer) -> int:
    """The optimizer's step count (updates applied so far) as a Python int."""
    return int(to_numpy(optimizer.iterations).item())


def handles_of(model: keras.Model) -> list[LearningRateHandle]:
    """A `LearningRateHandle` for every optimizer that trains `model`.

    A custom `train_step` may leave the compiled optimizer unused (a GAN's
    own optimizers do the work): once training has built some optimizers,
    only those count.
    """
    optimizers = optimizers_of(model)
    optimizers = [o for o in optimizers if o.built] or optimizers
    return [
        LearningRateHandle(o, name)
        for o, name in zip(optimizers, _display_names(optimizers))
    ]


def _display_names(optimizers) -> list[str]:
    """Each optimizer by its class (`SGD`), unless the user named it or two
    share a class: then by its own name (`opt_a`, `sgd_3`)."""
    classes = [type(o).__name__ for o in optimizers]
    return [
        cls
        if _keras_compat.has_default_name(optimizer) and classes.count(cls) == 1
        else optimizer.name
        for optimizer, cls in zip(optimizers, classes)
    ]


def rates_state(handles: list[LearningRateHandle]) -> dict:
    """The rates and schedule scales of `handles`, as JSON-able values."""
    return {
        "learning_rates": {h.name: h.value() for h in handles},
        "schedule_scales": {h.name: h.schedule_scale for h in handles},
    }


def restore_rates(handles: list[LearningRateHandle], state: dict) -> None:
    """Puts back what `rates_state` saved."""
    for handle in handles:
        if handle.name in state["schedule_scales"]:
            handle.set_schedule_scale(state["schedule_scales"][handle.name])
        if not handle.is_schedule and handle.name in state["learning_rates"]:
            handle.set(state["learning_rates"][handle.name])
