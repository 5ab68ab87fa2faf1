import math

import keras
import numpy as np
import pytest

from keras_trainwatch import layers

pytestmark = pytest.mark.backends


def test_rate_zero_adds_nothing():
    assert layers.dropout(0.0) is None
    assert layers.DropoutConfig().build() is None


def test_dropout_layer_drops_about_rate_of_the_activations():
    layer = layers.dropout(0.3, seed=7, name="drop")
    assert isinstance(layer, keras.layers.Dropout)
    assert (layer.rate, layer.seed, layer.name) == (0.3, 7, "drop")
    out = keras.ops.convert_to_numpy(
        layer(np.ones((100, 100), "float32"), training=True)
    )
    assert np.mean(out == 0) == pytest.approx(0.3, abs=0.02)
    assert np.allclose(out[out != 0], 1 / 0.7)
    inference = keras.ops.convert_to_numpy(
        layer(np.ones((4, 4), "float32"), training=False)
    )
    assert np.all(inference == 1)


def test_noise_shape_and_spatial_variants():
    assert layers.dropout(0.2, noise_shape=(None, 1, 5)).noise_shape == (
        None,
        1,
        5,
    )
    for rank, cls in [
        (1, keras.layers.SpatialDropout1D),
        (2, keras.layers.SpatialDropout2D),
        (3, keras.layers.SpatialDropout3D),
    ]:
        assert isinstance(layers.dropout(0.2, spatial=True, rank=rank), cls)
    channels = keras.ops.convert_to_numpy(
        layers.dropout(0.5, spatial=True, rank=2, seed=1)(
            np.ones((2, 4, 4, 64), "float32"), training=True
        )
    )
    # Whole channels are dropped: every position of a channel agrees.
    assert np.all(
        (channels == 0).all(axis=(1, 2)) | (channels != 0).all(axis=(1, 2))
    )


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, "0.5", None, True])
def test_bad_rates_are_rejected(bad):
    with pytest.raises(ValueError, match=r"`rate`.*\[0, 1\].*Received: rate="):
        layers.DropoutConfig(rate=bad)


def test_rate_one_needs_an_explicit_opt_in():
    with pytest.raises(ValueError, match="learns nothing.*allow_full=True"):
        layers.dropout(1.0)
    assert layers.dropout(1.0, allow_full=True).rate == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"noise_shape": (0, 2)}, "`noise_shape`"),
        ({"noise_shape": (None,), "spatial": True}, "cannot be combined"),
        ({"seed": -1}, "`seed`"),
        ({"seed": 1.5}, "`seed`"),
        ({"spatial": "yes"}, "`spatial`"),
    ],
)
def test_other_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.DropoutConfig(rate=0.2, **kwargs)


def test_spatial_dropout_needs_a_rank():
    with pytest.raises(ValueError, match="rank=None"):
        layers.dropout(0.2, spatial=True)
