import keras
import pytest
from helpers import mlp

from keras_trainwatch.model_graph import is_relu_activated
from keras_trainwatch.probe.layout import (
    ACTIVATIONS,
    GRADIENTS,
    ModelLayout,
)

pytestmark = pytest.mark.backends


def test_sequential_layers_in_order_with_relus_read_from_outputs():
    layout = ModelLayout.of(mlp(depth=3))
    assert [layer.name for layer in layout.layers] == [
        "hidden_0",
        "hidden_1",
        "hidden_2",
        "out",
    ]
    assert layout.variable_names[:2] == ("hidden_0/kernel", "hidden_0/bias")
    assert [(r.name, r.source, r.units) for r in layout.relu_layers] == [
        ("hidden_0", ACTIVATIONS, 32),
        ("hidden_1", ACTIVATIONS, 32),
        ("hidden_2", ACTIVATIONS, 32),
    ]


def test_functional_relu_layers_of_every_form():
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.Conv2D(5, 3, name="conv_linear")(h)
    h = keras.layers.ReLU(name="relu_layer")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(6, name="dense_linear")(h)
    h = keras.layers.Activation("relu", name="act_relu")(h)
    h = keras.layers.ReLU(negative_slope=0.1, name="leaky")(h)
    h = keras.layers.Dense(7, activation="relu6", name="dense_relu6")(h)
    outputs = keras.layers.Dense(2, activation="tanh", name="out")(h)
    layout = ModelLayout.of(keras.Model(inputs, outputs))
    assert [(r.name, r.units) for r in layout.relu_layers] == [
        ("conv", 4),
        ("relu_layer", 5),
        ("act_relu", 6),
        ("dense_relu6", 7),
    ]
    assert {r.source for r in layout.relu_layers} == {ACTIVATIONS}
    assert layout.unchecked_relu_layers == ()


def test_frozen_layers_are_not_watched():
    model = mlp(depth=2)
    model.get_layer("hidden_0").trainable = False
    layout = ModelLayout.of(model)
    assert [layer.name for layer in layout.layers] == ["hidden_1", "out"]
    # Its output can still be checked for dead units.
    assert "hidden_0" in [r.name for r in layout.relu_layers]


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(8, activation="relu", name="first")
        self.act = keras.layers.ReLU(name="standalone_relu")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, x):
        return self.head(self.act(self.first(x)))


def test_subclassed_relus_fall_back_to_gradients():
    model = Subclassed()
    model(keras.ops.zeros((1, 4)))
    layout = ModelLayout.of(model)
    [relu] = layout.relu_layers
    assert (relu.name, relu.source, relu.units) == ("first", GRADIENTS, 8)
    assert layout.variables[relu.kernel_index] is model.first.kernel
    assert layout.variables[relu.bias_index] is model.first.bias
    assert layout.unchecked_relu_layers == ("standalone_relu",)
    assert layout.graph_io is None


def test_nested_model_layers_get_qualified_names():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(5, activation="relu", name="d")],
        name="inner",
    )
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, name="top")(inner(inputs))
    layout = ModelLayout.of(keras.Model(inputs, outputs))
    assert [layer.name for layer in layout.layers] == ["inner/d", "top"]
    [relu] = layout.relu_layers
    assert (relu.name, relu.source) == ("inner/d", GRADIENTS)


def test_is_relu_activated_rejects_other_activations():
    assert not is_relu_activated(keras.layers.Dense(3, activation="sigmoid"))
    assert not is_relu_activated(keras.layers.LSTM(3, activation="relu"))
    assert not is_relu_activated(keras.layers.LeakyReLU())
    assert is_relu_activated(
        keras.layers.Dense(3, activation=keras.activations.relu)
    )
