"""Reading a Keras model's structure: its layers (nested ones included),
the calls of each in its functional graph and the layers that read their
outputs, and what each layer's activation is. Used by the probe's layout and
by the construction checks; nothing here runs TensorFlow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras

from keras_trainwatch import _keras_compat

_RELU_ACTIVATION_NAMES = frozenset({"relu", "relu6"})


def is_relu_activated(layer: keras.layers.Layer) -> bool:
    """Whether the layer's output is a ReLU that can be 0 for every input.

    Covers `keras.layers.ReLU` (without a negative slope),
    `keras.layers.Activation("relu")` and Dense/convolution layers built with
    `activation="relu"` (or `"relu6"`).

    Args:
        layer: A Keras layer.

    Returns:
        `True` if the layer's units can die.
    """
    if isinstance(layer, keras.layers.ReLU):
        return not layer.negative_slope
    if not isinstance(layer, _ACTIVATED_LAYER_TYPES):
        return False
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) in _RELU_ACTIVATION_NAMES


CONV_LAYER_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
_ACTIVATED_LAYER_TYPES = (
    keras.layers.Activation,
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
) + CONV_LAYER_TYPES


def walk_layers(model):
    """Yields `(display_name, layer, owner_name)` for every sublayer, parents
    first. `owner_name` is the display name of the outermost layer that
    contains it and is not a model."""

    def walk(layer, prefix, owner):
        for child in _keras_compat.child_layers(layer):
            name = f"{prefix}{child.name}"
            child_owner = owner or (
                None if isinstance(child, keras.Model) else name
            )
            yield name, child, child_owner or name
            yield from walk(child, f"{name}/", child_owner)

    yield from walk(model, "", None)


def _graph_calls(graph_outputs) -> Iterator[tuple[Any, Any]]:
    """Every layer call `(layer, node)` in the graph that ends at
    `graph_outputs`, once each, from the outputs back."""
    seen, stack = set(), list(keras.tree.flatten(graph_outputs))
    while stack:
        produced = _keras_compat.producer(stack.pop())
        if produced is None or id(produced[1]) in seen:
            continue
        seen.add(id(produced[1]))
        yield produced
        stack.extend(keras.tree.flatten(produced[1].input_tensors))


def nodes_in_graph(graph_outputs):
    """Maps `id(layer)` to the Keras nodes (calls) of the layer in the graph
    that ends at `graph_outputs` (a layer shared within the graph has
    several; a layer inside a nested model has none)."""
    nodes_by_layer = {}
    for operation, node in _graph_calls(graph_outputs):
        nodes_by_layer.setdefault(id(operation), []).append(node)
    return nodes_by_layer


def consumers_in_graph(graph_outputs) -> dict[int, tuple[Any, list]]:
    """Maps `id(layer)` to `(layer, the layers that read its outputs)` in the
    graph that ends at `graph_outputs`, one entry per reading call."""
    consumers = {}
    for operation, node in _graph_calls(graph_outputs):
        for parent in keras.tree.flatten(node.input_tensors):
            produced = _keras_compat.producer(parent)
            if produced is not None:
                layer = produced[0]
                consumers.setdefault(id(layer), (layer, []))[1].append(
                    operation
                )
    return consumers


# Layers that move, pad or drop input values without changing their scale:
# a layer behind them still reads the inputs as they come.
_SCALE_PRESERVING = (
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.Reshape,
    keras.layers.Flatten,
    keras.layers.Permute,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.Identity,
    keras.layers.Concatenate,
)


def reads_model_inputs(tensor, input_ids, depth=0) -> bool:
    """Whether `tensor` is a model input, or one passed on unscaled by
    padding, cropping, reshaping or dropout layers."""
    if id(tensor) in input_ids:
        return True
    produced = None if depth > 8 else _keras_compat.producer(tensor)
    if produced is None:
        return False
    operation, node = produced
    if not isinstance(operation, _SCALE_PRESERVING):
        return False
    return all(
        reads_model_inputs(t, input_ids, depth + 1)
        for t in keras.tree.flatten(node.input_tensors)
    )


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of the layer's activation function (`"relu"`, `"sigmoid"`,
    ...), `"relu"` for a `keras.layers.ReLU`, or `None`."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    return None if name in (None, "linear") else name
