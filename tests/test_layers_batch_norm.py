import math

import keras
import pytest

from keras_trainwatch import layers

pytestmark = pytest.mark.backends


def test_factory_passes_every_setting():
    layer = layers.batch_normalization(
        momentum=0.9, epsilon=1e-5, center=False, scale=False, axis=1, name="bn"
    )
    assert isinstance(layer, keras.layers.BatchNormalization)
    assert (
        layer.momentum,
        layer.epsilon,
        layer.center,
        layer.scale,
        layer.axis,
        layer.name,
    ) == (0.9, 1e-5, False, False, 1, "bn")


def test_defaults_are_keras_defaults_placed_before_the_activation():
    config = layers.BatchNormConfig()
    reference = keras.layers.BatchNormalization()
    assert (config.momentum, config.epsilon) == (
        reference.momentum,
        reference.epsilon,
    )
    assert config.position == "before"


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"momentum": math.nan}, "momentum"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1e-3}, "epsilon"),
        ({"center": 1}, "center"),
        ({"scale": None}, "scale"),
        ({"axis": 1.5}, "axis"),
        ({"position": "middle"}, "position"),
    ],
)
def test_bad_settings_are_rejected_naming_the_argument(kwargs, argument):
    with pytest.raises(
        ValueError, match=f"`{argument}`.*Received: {argument}="
    ):
        layers.BatchNormConfig(**kwargs)
