"""A block: linear or convolution -> [batch norm] -> activation -> [dropout],
configured by plain values, as a function that adds layers or as one
serializable Keras layer."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping

import keras

from keras_trainwatch._validation import invalid, one_of, positive_int
from keras_trainwatch.layers.batch_norm import BatchNormConfig
from keras_trainwatch.layers.dropout import DropoutConfig

KINDS = ("dense", "conv")
_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_RELU_FAMILY = frozenset(
    {"relu", "relu6", "elu", "gelu", "silu", "swish", "leaky_relu"}
)


def default_initializer(activation: str | None) -> str:
    """He initialization for ReLU-like activations, Glorot otherwise."""
    return "he_normal" if activation in _RELU_FAMILY else "glorot_uniform"


@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """One block of a network, validated at construction.

    The layers, in order: a `Dense` (kind `"dense"`) or `ConvND` (kind
    `"conv"`) layer, then batch normalization before or after the
    activation (if `batch_norm` is set), then dropout (if its rate is > 0).
    With batch normalization before the activation and `center=True`, the
    linear layer has no bias (the normalization's offset replaces it).

    Args:
        kind: `"dense"` (default) or `"conv"`.
        units: Integer >= 1, default 64. Units, or filters for `"conv"`.
        activation: Activation name, default `"relu"` (`None` or `"linear"`
            for none).
        kernel_initializer: Initializer name or serialized initializer
            (e.g. `{"class_name": "RandomNormal", "config": {"stddev": 0.1}}`);
            default `None` picks `"he_normal"` for ReLU-like activations and
            `"glorot_uniform"` otherwise.
        batch_norm: `BatchNormConfig`, a dict of its fields, or `None`
            (default) for no batch normalization.
        dropout: `DropoutConfig`, a dict of its fields, or a rate (default
            0.0: no dropout).
        rank: For `"conv"`: spatial dimensions, 1, 2 (default) or 3.
        kernel_size: For `"conv"`: integer >= 1, default 3.
        strides: For `"conv"`: integer >= 1, default 1.
        padding: For `"conv"`: `"same"` (default) or `"valid"`.

    Example:

    ```python
    config = BlockConfig.from_dict(
        {"units": 128, "batch_norm": {"position": "before"}, "dropout": 0.3}
    )
    x = apply_block(inputs, config, name="block_1")
    ```
    """

    kind: str = "dense"
    units: int = 64
    activation: str | None = "relu"
    kernel_initializer: str | dict | None = None
    batch_norm: BatchNormConfig | None = None
    dropout: DropoutConfig = dataclasses.field(default_factory=DropoutConfig)
    rank: int = 2
    kernel_size: int = 3
    strides: int = 1
    padding: str = "same"

    def __post_init__(self):
        one_of("kind", self.kind, KINDS)
        positive_int("units", self.units)
        one_of("rank", self.rank, tuple(_CONV))
        positive_int("kernel_size", self.kernel_size)
        positive_int("strides", self.strides)
        one_of("padding", self.padding, ("same", "valid"))
        _check_keras_object(
            "activation", self.activation, keras.activations.get
        )
        _check_keras_object(
            "kernel_initializer",
            self.kernel_initializer,
            keras.initializers.get,
            allow_config=True,
        )
        if isinstance(self.batch_norm, Mapping):
            object.__setattr__(
                self, "batch_norm", BatchNormConfig(**self.batch_norm)
            )
        elif self.batch_norm is not None and not isinstance(
            self.batch_norm, BatchNormConfig
        ):
            raise invalid(
                "batch_norm",
                "a BatchNormConfig, a dict of its fields or None",
                self.batch_norm,
            )
        dropout = self.dropout
        if isinstance(dropout, Mapping):
            dropout = DropoutConfig(**dropout)
        elif isinstance(dropout, numbers.Real) and not isinstance(
            dropout, bool
        ):
            dropout = DropoutConfig(rate=dropout)
        elif not isinstance(dropout, DropoutConfig):
            raise invalid(
                "dropout",
                "a DropoutConfig, a dict of its fields or a rate",
                dropout,
            )
        if dropout.spatial and self.kind != "conv":
            raise ValueError(
                "Spatial dropout drops whole channels and needs kind='conv'. "
                f"Received: kind={self.kind!r}, dropout={dropout!r}"
            )
        object.__setattr__(self, "dropout", dropout)

    @classmethod
    def from_dict(cls, config: Mapping) -> BlockConfig:
        """Builds a config from plain values (nested dicts for `batch_norm`
        and `dropout`), rejecting unknown keys."""
        unknown = set(config) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(
                f"Unknown block config keys {sorted(unknown)}. Allowed: "
                f"{[f.name for f in dataclasses.fields(cls)]}"
            )
        return cls(**config)

    def to_dict(self) -> dict:
        """The config as plain values (JSON/YAML-ready)."""
        config = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self)
        }
        config["batch_norm"] = (
            None if self.batch_norm is None else self.batch_norm.to_dict()
        )
        config["dropout"] = self.dropout.to_dict()
        return config

    def make_layers(self, name: str) -> list[keras.layers.Layer]:
        """Creates the block's layers, in order, named `<name>_<role>`."""
        norm = self.batch_norm
        norm_first = norm is not None and norm.position == "before"
        linear_kwargs = {
            "activation": None if norm_first else self.activation,
            "use_bias": not (norm_first and norm.center),
            "kernel_initializer": self.kernel_initializer
            or default_initializer(self.activation),
        }
        if self.kind == "dense":
            layers = [
                keras.layers.Dense(
                    self.units, name=f"{name}_dense", **linear_kwargs
                )
            ]
        else:
            layers = [
                _CONV[self.rank](
                    self.units,
                    self.kernel_size,
                    strides=self.strides,
                    padding=self.padding,
                    name=f"{name}_conv",
                    **linear_kwargs,
                )
            ]
        if norm is not None:
            layers.append(norm.build(name=f"{name}_bn"))
        if norm_first:
            layers.append(
                keras.layers.Activation(self.activation, name=f"{name}_act")
            )
        dropout = self.dropout.build(
            rank=self.rank if self.kind == "conv" else None,
            name=f"{name}_dropout",
        )
        if dropout is not None:
            layers.append(dropout)
        return layers


def apply_block(x, config: BlockConfig | Mapping, name: str):
    """Adds a block's layers to a functional graph.

    Args:
        x: A Keras tensor.
        config: A `BlockConfig` or a dict of its fields.
        name: Prefix of the layer names.

    Returns:
        The block's output tensor.

    Example:

    ```python
    inputs = keras.Input((64,))
    x = apply_block(inputs, {"units": 32, "dropout": 0.2}, name="hidden_0")
    ```
    """
    if isinstance(config, Mapping):
        config = BlockConfig.from_dict(config)
    for layer in config.make_layers(name):
        x = layer(x)
    return x


@keras.saving.register_keras_serializable(package="keras_trainwatch")
class Block(keras.layers.Layer):
    """A block as one Keras layer: linear/conv -> [batch norm] -> activation
    -> [dropout].

    `GradientWatch` watches the gradients of a `Block`'s sublayers, but
    cannot reach their outputs: it infers dead units from the weight
    gradients when the activation is fused into the linear layer (no batch
    norm, or batch norm after the activation) and cannot check them when
    batch norm comes before the activation. Use `apply_block` in functional
    models to have every inner layer checked directly.

    Args:
        config: A `BlockConfig` or a dict of its fields.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Example:

    ```python
    model = keras.Sequential([
        keras.Input((64,)),
        Block({"units": 128, "batch_norm": {}, "dropout": 0.2}),
        keras.layers.Dense(10, activation="softmax"),
    ])
    ```
    """

    def __init__(self, config: BlockConfig | Mapping | None = None, **kwargs):
        super().__init__(**kwargs)
        if config is None:
            config = BlockConfig()
        elif isinstance(config, Mapping):
            config = BlockConfig.from_dict(config)
        elif not isinstance(config, BlockConfig):
            raise invalid(
                "config", "a BlockConfig or a dict of its fields", config
            )
        self.block_config = config
        self.block_layers = config.make_layers(self.name)

    def build(self, input_shape):
        shape = input_shape
        for layer in self.block_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.block_layers:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self.block_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {**super().get_config(), "config": self.block_config.to_dict()}


def _check_keras_object(name, value, getter, allow_config=False):
    if value is None:
        return
    allowed = (str, Mapping) if allow_config else str
    if not isinstance(value, allowed):
        expected = "a name (string) such as 'relu'"
        if allow_config:
            expected += " or a serialized Keras object (dict)"
        raise invalid(name, expected + " or None", value)
    try:
        getter(value)
    except (ValueError, TypeError) as error:
        raise invalid(name, f"a name Keras knows ({error})", value) from error
