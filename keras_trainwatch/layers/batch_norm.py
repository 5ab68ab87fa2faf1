"""The configurable BatchNormalization factory."""

from __future__ import annotations

import dataclasses
import numbers

import keras

from keras_trainwatch._validation import (
    boolean,
    invalid,
    one_of,
    real_in_range,
)

POSITIONS = ("before", "after")


@dataclasses.dataclass(frozen=True)
class BatchNormConfig:
    """How to normalize a block's activations, validated at construction.

    Batch normalization normalizes each batch and rescales it with two
    trainable parameters (`gamma` if `scale`, `beta` if `center`); it
    steadies training against exploding gradients and needs fewer epochs.

    Args:
        momentum: Float in [0, 1), default 0.99. Momentum of the moving
            mean and variance used at inference.
        epsilon: Positive float, default 1e-3. Added to the variance.
        center: Bool, default True. Learn an offset `beta`.
        scale: Bool, default True. Learn a factor `gamma`.
        axis: Integer, default -1. The features (channels) axis.
        position: `"before"` (default) or `"after"` the activation.

    Example:

    ```python
    config = BatchNormConfig(momentum=0.9, position="before")
    layer = config.build()
    ```
    """

    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    axis: int = -1
    position: str = "before"

    def __post_init__(self):
        object.__setattr__(
            self,
            "momentum",
            real_in_range("momentum", self.momentum, 0.0, 1.0, high_open=True),
        )
        epsilon = real_in_range(
            "epsilon",
            self.epsilon,
            0.0,
            float("inf"),
            low_open=True,
            high_open=True,
        )
        object.__setattr__(self, "epsilon", epsilon)
        boolean("center", self.center)
        boolean("scale", self.scale)
        if isinstance(self.axis, bool) or not isinstance(
            self.axis, numbers.Integral
        ):
            raise invalid("axis", "an integer", self.axis)
        one_of("position", self.position, POSITIONS)

    def build(self, name: str | None = None) -> keras.layers.BatchNormalization:
        """Creates the layer.

        Args:
            name: Optional layer name.

        Returns:
            A `keras.layers.BatchNormalization`.
        """
        return keras.layers.BatchNormalization(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            name=name,
        )

    def to_dict(self) -> dict:
        """The config as plain values (JSON/YAML-ready)."""
        return dataclasses.asdict(self)


def batch_normalization(**kwargs) -> keras.layers.BatchNormalization:
    """Creates a batch normalization layer from `BatchNormConfig` fields.

    Args:
        **kwargs: `BatchNormConfig` fields, and `name`.

    Returns:
        A `keras.layers.BatchNormalization`.

    Example:

    ```python
    layer = keras_trainwatch.layers.batch_normalization(momentum=0.9)
    ```
    """
    name = kwargs.pop("name", None)
    return BatchNormConfig(**kwargs).build(name=name)
