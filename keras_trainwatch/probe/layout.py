"""What a model is made of, as far as the probe is concerned.

Finds which layer owns each trainable variable, orders those layers from the
input to the output, and works out how each ReLU-activated layer can be
checked for dead units: on its output (reachable in a functional graph) or,
failing that, on the gradients of its incoming weights.
"""

from __future__ import annotations

import dataclasses

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch.model_graph import (
    CONV_LAYER_TYPES,
    activation_name,
    consumers_in_graph,
    is_relu_activated,
    nodes_in_graph,
    reads_model_inputs,
    walk_layers,
)
from keras_trainwatch.probe.layer_parts import (
    KernelLayer,
    RecurrentLayer,
    ReluLayer,
    SaturatingLayer,
    WatchedLayer,
)
from keras_trainwatch.records import ACTIVATIONS, GRADIENTS


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """The probe's view of a model.

    Args:
        variables: `model.trainable_variables`, in that order.
        variable_names: A display name for each variable.
        layers: Layers owning trainable variables, from the input to the
            output.
        relu_layers: ReLU-activated layers whose dead units can be counted.
        unchecked_relu_layers: Names of ReLU layers that cannot be checked.
        recurrent_layers: Recurrent layers (`return_sequences=False`) whose
            input sequence can be reached, to measure how much gradient
            reaches their early steps.
        saturating_layers: Hidden sigmoid/tanh layers whose outputs can be
            reached (gates, whose outputs only multiply others, and model
            outputs are left out: they are meant to reach 0 or 1).
        kernel_layers: Dense and convolution layers with more than one unit.
        graph_io: `(inputs, outputs)` of the model's functional graph, or
            `None` when it has none that can be followed (subclassed models).
    """

    variables: tuple[keras.Variable, ...]
    variable_names: tuple[str, ...]
    layers: tuple[WatchedLayer, ...]
    relu_layers: tuple[ReluLayer, ...]
    unchecked_relu_layers: tuple[str, ...]
    recurrent_layers: tuple[RecurrentLayer, ...] = ()
    saturating_layers: tuple[SaturatingLayer, ...] = ()
    kernel_layers: tuple[KernelLayer, ...] = ()
    graph_io: tuple | None = None

    @property
    def activation_relus(self) -> tuple[ReluLayer, ...]:
        """ReLU layers checked on their outputs."""
        return tuple(r for r in self.relu_layers if r.source == ACTIVATIONS)

    @property
    def gradient_relus(self) -> tuple[ReluLayer, ...]:
        """ReLU layers checked on their weight gradients."""
        return tuple(r for r in self.relu_layers if r.source == GRADIENTS)

    @classmethod
    def of(cls, model: keras.Model) -> ModelLayout:
        """Analyses a built model.

        Args:
            model: A built Keras model.

        Returns:
            The model's `ModelLayout`.
        """
        variables = tuple(model.trainable_variables)
        index_of = {id(v): i for i, v in enumerate(variables)}
        walked = list(walk_layers(model))
        named_layers = [(name, layer) for name, layer, _ in walked]

        # A variable belongs to the layer that a model lists (as in
        # `model.summary()`): the RNN rather than its cell, a custom layer
        # rather than its sublayers; the layers of a nested model count on
        # their own. Parents come first, so the deepest such owner wins.
        owner = {}
        for _, layer, owner_name in walked:
            for v in layer.trainable_variables:
                if id(v) in index_of:
                    owner[index_of[id(v)]] = owner_name
        indices_by_layer: dict[str, list[int]] = {}
        for i in range(len(variables)):
            indices_by_layer.setdefault(owner.get(i, model.name), []).append(i)
        variable_names = tuple(
            f"{owner.get(i, model.name)}/{v.name}"
            for i, v in enumerate(variables)
        )

        graph_io = _keras_compat.graph_io(model)
        graph_nodes = {} if graph_io is None else nodes_in_graph(graph_io[1])
        consumers = {} if graph_io is None else consumers_in_graph(graph_io[1])
        output_ids = (
            set()
            if graph_io is None
            else {id(t) for t in keras.tree.flatten(graph_io[1])}
        )
        input_ids = (
            set()
            if graph_io is None
            else {id(t) for t in keras.tree.flatten(graph_io[0])}
        )
        layer_by_name = dict(named_layers)
        layers = tuple(
            _watched(
                name,
                tuple(indices),
                layer_by_name.get(name),
                graph_nodes,
                input_ids,
            )
            for name, indices in sorted(
                indices_by_layer.items(), key=lambda item: item[1][0]
            )
        )
        relu_layers, unchecked, recurrent, saturating = [], [], [], []
        kernel_layers = []
        # The linear layer that feeds each owner's next activation, through
        # per-channel normalization at most (a `layers.Block`: Dense -> BN
        # -> ReLU inside one layer, whose outputs the graph cannot reach).
        feeding: dict[str, keras.layers.Layer] = {}
        for (name, layer), (_, _, owner) in zip(named_layers, walked):
            nodes = graph_nodes.get(id(layer), [])
            if len(nodes) == 1 and _is_sequence_to_one(layer):
                sequence = keras.tree.flatten(nodes[0].input_tensors)[0]
                recurrent.append(RecurrentLayer(name, layer, sequence))
            if len(nodes) == 1:
                saturating += _saturating(
                    name, layer, nodes[0], consumers, output_ids
                )
            kernel_layers += _kernel_layer(name, layer, index_of)
            feeding_now = feeding.pop(owner, None)
            if _kernel_and_bias(layer, index_of) is not None:
                feeding[owner] = layer
            elif isinstance(layer, _PER_CHANNEL) and feeding_now is not None:
                feeding[owner] = feeding_now
            if not is_relu_activated(layer):
                continue
            relu = None
            if len(nodes) == 1:
                relu = _relu_from_output(
                    name, layer, keras.tree.flatten(nodes[0].output_tensors)
                )
            if relu is None:
                relu = _relu_from_weights(name, layer, index_of)
            if relu is None and feeding_now is not None:
                # A unit whose ReLU outputs 0 for every sample passes no
                # gradient back to the linear layer's weights of that unit.
                relu = _relu_from_weights(name, feeding_now, index_of)
            if relu is None:
                unchecked.append(name)
            else:
                relu_layers.append(relu)
        return cls(
            variables=variables,
            variable_names=variable_names,
            layers=layers,
            relu_layers=tuple(relu_layers),
            unchecked_relu_layers=tuple(unchecked),
            recurrent_layers=tuple(recurrent),
            saturating_layers=tuple(saturating),
            kernel_layers=tuple(kernel_layers),
            graph_io=graph_io,
        )


_SATURATING_ACTIVATIONS = frozenset({"sigmoid", "tanh"})

# Layers between a linear layer and its activation that keep units apart
# (batch norm scales each channel on its own; layer norm mixes them).
_PER_CHANNEL = (keras.layers.BatchNormalization,)


def _saturating(name, layer, node, consumers, output_ids):
    """The layer as a `SaturatingLayer` (in a list), or an empty list."""
    activation = activation_name(layer)
    outputs = keras.tree.flatten(node.output_tensors)
    if (
        activation not in _SATURATING_ACTIVATIONS
        or len(outputs) != 1
        or id(outputs[0]) in output_ids
    ):
        return []
    readers = consumers.get(id(layer), (None, []))[1]
    if readers and all(isinstance(r, keras.layers.Multiply) for r in readers):
        return []  # a gate (squeeze-and-excitation, GLU): open or shut
    return [SaturatingLayer(name, activation, outputs[0])]


def _kernel_layer(name, layer, index_of):
    """The layer as a `KernelLayer` (in a list), or an empty list."""
    indices = _kernel_and_bias(layer, index_of)
    if indices is None or layer.kernel.shape[-1] < 2:
        return []
    return [KernelLayer(name, int(layer.kernel.shape[-1]), *indices)]


def _kernel_and_bias(layer, index_of):
    """`(kernel_index, bias_index)` of a Dense or plain convolution layer
    (whose kernel's last axis is its units), or `None`."""
    if not isinstance(layer, (keras.layers.Dense,) + CONV_LAYER_TYPES):
        return None
    kernel = getattr(layer, "kernel", None)
    if kernel is None or id(kernel) not in index_of:
        return None
    bias = getattr(layer, "bias", None)
    return (
        index_of[id(kernel)],
        index_of.get(id(bias)) if bias is not None else None,
    )


def _watched(name, indices, layer, graph_nodes, input_ids):
    if layer is None:  # variables of the model itself
        return WatchedLayer(name, indices)
    nodes = graph_nodes.get(id(layer), [])
    reads_input = any(
        reads_model_inputs(t, input_ids)
        for node in nodes
        for t in keras.tree.flatten(node.input_tensors)
    )
    kind = type(layer).__name__
    return WatchedLayer(
        name,
        indices,
        kind=kind,
        activation=activation_name(layer),
        normalization="Normalization" in kind or kind.endswith("Norm"),
        reads_input=reads_input,
    )


def _is_sequence_to_one(layer):
    """A recurrent layer whose loss reaches its steps only through its last
    state (with `return_sequences=True`, every step gets a direct gradient
    and the early-versus-late comparison means nothing)."""
    return isinstance(layer, keras.layers.RNN) and not layer.return_sequences


def _channel_axis(layer):
    data_format = getattr(layer, "data_format", "channels_last")
    return 1 if data_format == "channels_first" else -1


def _relu_from_output(name, layer, outputs):
    if len(outputs) != 1:
        return None
    [output] = outputs
    axis = _channel_axis(layer)
    units = output.shape[axis]
    if units is None:
        return None
    return ReluLayer(
        name, layer, int(units), ACTIVATIONS, channel_axis=axis, output=output
    )


def _relu_from_weights(name, layer, index_of):
    """Dense and plain convolutions: a unit is dead if its weights get no
    gradient. Other layers mix units in ways this rule cannot follow."""
    indices = _kernel_and_bias(layer, index_of)
    if indices is None:
        return None
    kernel_index, bias_index = indices
    return ReluLayer(
        name,
        layer,
        int(layer.kernel.shape[-1]),
        GRADIENTS,
        kernel_index=kernel_index,
        bias_index=bias_index,
    )
