"""The configurable Dropout factory."""

from __future__ import annotations

import dataclasses
import numbers

import keras

from keras_trainwatch._validation import (
    boolean,
    integer_at_least,
    invalid,
    real_in_range,
)

_SPATIAL = {
    1: keras.layers.SpatialDropout1D,
    2: keras.layers.SpatialDropout2D,
    3: keras.layers.SpatialDropout3D,
}


@dataclasses.dataclass(frozen=True)
class DropoutConfig:
    """How to drop activations, validated at construction.

    Dropout zeroes a random fraction `rate` of a layer's activations for one
    gradient step (and rescales the rest), which regularizes the network.
    0.0 means no dropout: nothing is added to the model. 1.0 would drop
    everything, so the model could learn nothing: it is rejected unless
    `allow_full=True`. Values in between are the useful range (0.1 to 0.5
    is common).

    Args:
        rate: Float in [0, 1], default 0.0. Fraction of activations dropped.
        spatial: Bool, default False. Drop whole channels of a convolution's
            output (`SpatialDropout1D/2D/3D`) instead of single activations.
        noise_shape: Optional tuple, the shape of the binary mask (`None`
            entries follow the input), as in `keras.layers.Dropout`. Not
            with `spatial`.
        seed: Optional integer >= 0 for reproducible masks.
        allow_full: Bool, default False. Allow `rate=1.0`.

    Example:

    ```python
    config = DropoutConfig(rate=0.3, seed=1)
    layer = config.build()  # a keras.layers.Dropout
    DropoutConfig(rate=0.0).build()  # None: nothing to add
    ```
    """

    rate: float = 0.0
    spatial: bool = False
    noise_shape: tuple | None = None
    seed: int | None = None
    allow_full: bool = False

    def __post_init__(self):
        object.__setattr__(
            self, "rate", real_in_range("rate", self.rate, 0.0, 1.0)
        )
        boolean("spatial", self.spatial)
        boolean("allow_full", self.allow_full)
        if self.rate == 1.0 and not self.allow_full:
            raise ValueError(
                "Invalid value received for argument `rate`. A rate of 1.0 "
                "drops every activation, so the model learns nothing. "
                "Expected a number in [0, 1), or pass allow_full=True. "
                "Received: rate=1.0"
            )
        if self.noise_shape is not None:
            shape = tuple(self.noise_shape)
            if not all(
                d is None or (isinstance(d, numbers.Integral) and d >= 1)
                for d in shape
            ):
                raise invalid(
                    "noise_shape",
                    "a tuple of integers >= 1 or None",
                    self.noise_shape,
                )
            if self.spatial:
                raise ValueError(
                    "Arguments `noise_shape` and `spatial=True` cannot be "
                    "combined: spatial dropout fixes the mask shape itself. "
                    f"Received: noise_shape={self.noise_shape!r}"
                )
            object.__setattr__(self, "noise_shape", shape)
        if self.seed is not None:
            integer_at_least("seed", self.seed, 0)

    def build(self, rank: int | None = None, name: str | None = None):
        """Creates the layer.

        Args:
            rank: Number of spatial dimensions of the input (1, 2 or 3),
                needed for spatial dropout.
            name: Optional layer name.

        Returns:
            A dropout layer, or `None` when `rate` is 0 (nothing to add).
        """
        if self.rate == 0.0:
            return None
        if self.spatial:
            if rank not in _SPATIAL:
                raise ValueError(
                    "Spatial dropout needs a convolution's output with 1, 2 or 3 "
                    f"spatial dimensions. Received: rank={rank!r}"
                )
            return _SPATIAL[rank](self.rate, seed=self.seed, name=name)
        return keras.layers.Dropout(
            self.rate, noise_shape=self.noise_shape, seed=self.seed, name=name
        )

    def to_dict(self) -> dict:
        """The config as plain values (JSON/YAML-ready)."""
        config = dataclasses.asdict(self)
        if self.noise_shape is not None:
            config["noise_shape"] = list(self.noise_shape)
        return config


def dropout(rate: float, **kwargs):
    """Creates a dropout layer, or nothing for `rate=0`.

    Args:
        rate: Float in [0, 1]: fraction of activations dropped per step.
        **kwargs: Other `DropoutConfig` fields (`spatial`, `noise_shape`,
            `seed`, `allow_full`) and `rank`/`name` for `build`.

    Returns:
        A Keras dropout layer, or `None` when `rate` is 0.

    Example:

    ```python
    layer = keras_trainwatch.layers.dropout(0.2, seed=3)
    ```
    """
    build_args = {k: kwargs.pop(k) for k in ("rank", "name") if k in kwargs}
    return DropoutConfig(rate=rate, **kwargs).build(**build_args)
