"""The parts of a model the probe reads, one record type each: the layers
that own weights, the ReLU layers checked for dead units, the saturating
layers, the layers with a kernel, the recurrent layers."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from keras_trainwatch.records import DeadUnitSource, LayerDescription


@dataclasses.dataclass(frozen=True)
class WatchedLayer(LayerDescription):
    """A layer that owns trainable variables: its `LayerDescription` and, as
    `variable_indices`, the indices of its variables in
    `model.trainable_variables`."""

    variable_indices: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ReluLayer:
    """A ReLU-activated layer and how its dead units are counted.

    Args:
        name: Display name.
        layer: The Keras layer.
        units: Number of units (channels for convolutions).
        source: `ACTIVATIONS` (its output is reachable) or `GRADIENTS`
            (dead units are inferred from its kernel and bias gradients).
        channel_axis: Axis of the units in the layer's output.
        output: The layer's output tensor in the model's graph
            (`ACTIVATIONS` source only).
        kernel_index: Index of its kernel in `model.trainable_variables`
            (`GRADIENTS` source only).
        bias_index: Index of its bias, or `None` if it has none
            (`GRADIENTS` source only).
    """

    name: str
    layer: keras.layers.Layer
    units: int
    source: DeadUnitSource
    channel_axis: int = -1
    output: Any = None
    kernel_index: int | None = None
    bias_index: int | None = None


@dataclasses.dataclass(frozen=True)
class SaturatingLayer:
    """A hidden layer with a sigmoid or tanh activation whose output is
    reachable, to measure how many of its outputs sit in the flat tails.

    Args:
        name: Display name.
        activation: `"sigmoid"` or `"tanh"`.
        output: The layer's output tensor in the model's graph.
    """

    name: str
    activation: str
    output: Any


@dataclasses.dataclass(frozen=True)
class KernelLayer:
    """A Dense or convolution layer whose units can be compared with each
    other (identical units get identical gradients and stay identical).

    Args:
        name: Display name.
        units: Number of units (output channels).
        kernel_index: Index of its kernel in `model.trainable_variables`.
        bias_index: Index of its bias, or `None`.
    """

    name: str
    units: int
    kernel_index: int
    bias_index: int | None = None


@dataclasses.dataclass(frozen=True)
class RecurrentLayer:
    """A recurrent layer whose input sequence is reachable in the graph.

    Args:
        name: Display name.
        layer: The Keras layer (`SimpleRNN`, `LSTM`, `GRU`, any
            `keras.layers.RNN`).
        sequence: Its input tensor `(batch, steps, features)` in the graph.
    """

    name: str
    layer: keras.layers.Layer
    sequence: Any

    @property
    def backwards(self) -> bool:
        """Whether the layer reads its sequence from the end."""
        return bool(getattr(self.layer, "go_backwards", False))

    @property
    def gated(self) -> bool:
        """Whether it is an LSTM or GRU (gates already protect gradients)."""
        return isinstance(self.layer, (keras.layers.LSTM, keras.layers.GRU))
