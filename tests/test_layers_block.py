import keras
import numpy as np
import pytest

from keras_trainwatch import layers

pytestmark = pytest.mark.backends


def kinds(config):
    return [
        (
            type(layer).__name__,
            getattr(getattr(layer, "activation", None), "__name__", None),
        )
        for layer in config.make_layers("b")
    ]


def test_order_follows_the_configuration():
    plain = layers.BlockConfig(units=8)
    assert kinds(plain) == [("Dense", "relu")]
    before = layers.BlockConfig(
        units=8, batch_norm={"position": "before"}, dropout=0.2
    )
    assert kinds(before) == [
        ("Dense", "linear"),
        ("BatchNormalization", None),
        ("Activation", "relu"),
        ("Dropout", None),
    ]
    assert (
        before.make_layers("b")[0].use_bias is False
    )  # batch norm's beta replaces it
    after = layers.BlockConfig(units=8, batch_norm={"position": "after"})
    assert kinds(after) == [("Dense", "relu"), ("BatchNormalization", None)]
    assert after.make_layers("b")[0].use_bias is True


def test_conv_blocks_and_spatial_dropout():
    config = layers.BlockConfig(
        kind="conv",
        units=4,
        rank=1,
        kernel_size=5,
        dropout={"rate": 0.1, "spatial": True},
    )
    conv, drop = config.make_layers("c")
    assert isinstance(conv, keras.layers.Conv1D) and conv.kernel_size == (5,)
    assert isinstance(drop, keras.layers.SpatialDropout1D)
    with pytest.raises(ValueError, match="needs kind='conv'"):
        layers.BlockConfig(kind="dense", dropout={"rate": 0.1, "spatial": True})


def test_initializer_follows_the_activation():
    relu = layers.BlockConfig(units=4).make_layers("a")[0]
    tanh = layers.BlockConfig(units=4, activation="tanh").make_layers("b")[0]
    assert type(relu.kernel_initializer).__name__ == "HeNormal"
    assert type(tanh.kernel_initializer).__name__ == "GlorotUniform"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "lstm"}, "`kind`"),
        ({"units": 0}, "`units`"),
        ({"units": -4}, "`units`"),
        ({"activation": "relux"}, "`activation`"),
        ({"kernel_initializer": "he"}, "`kernel_initializer`"),
        ({"batch_norm": "yes"}, "`batch_norm`"),
        ({"dropout": "0.2"}, "`dropout`"),
        ({"dropout": 1.2}, "`rate`"),
        ({"rank": 4}, "`rank`"),
        ({"padding": "full"}, "`padding`"),
    ],
)
def test_bad_block_configs_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.BlockConfig(**kwargs)


def test_unknown_keys_are_rejected():
    with pytest.raises(
        ValueError, match=r"Unknown block config keys \['widht'\]"
    ):
        layers.BlockConfig.from_dict({"widht": 3})


def test_config_round_trips_through_plain_values():
    config = layers.BlockConfig(
        kind="conv",
        units=6,
        batch_norm={"momentum": 0.9, "position": "after"},
        dropout={"rate": 0.25, "noise_shape": [None, 1, 1, 6], "seed": 3},
    )
    assert layers.BlockConfig.from_dict(config.to_dict()) == config


def test_block_layer_saves_and_loads_with_identical_outputs(tmp_path):
    inputs = keras.Input((12,))
    x = layers.Block(
        {"units": 16, "batch_norm": {}, "dropout": 0.2}, name="block"
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    model.compile("adam", "mse")
    data = np.random.default_rng(0).normal(size=(32, 12)).astype("float32")
    model.fit(data, np.zeros((32, 3)), epochs=2, verbose=0)
    path = tmp_path / "block.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("block"), layers.Block)
    assert (
        loaded.get_layer("block").block_config
        == model.get_layer("block").block_config
    )
    np.testing.assert_array_equal(
        model.predict(data, verbose=0), loaded.predict(data, verbose=0)
    )


def test_apply_block_adds_plain_layers_to_a_graph():
    inputs = keras.Input((12,))
    out = layers.apply_block(
        inputs, {"units": 5, "batch_norm": {}, "dropout": 0.1}, name="h0"
    )
    model = keras.Model(inputs, out)
    assert [layer.name for layer in model.layers[1:]] == [
        "h0_dense",
        "h0_bn",
        "h0_act",
        "h0_dropout",
    ]


def test_dead_units_inside_a_block_are_counted(digits):
    # The Block's ReLU sits inside one layer, whose outputs the graph cannot
    # reach: its dead units are read from the gradients of the Block's own
    # Dense kernel, through its batch norm.
    import keras_trainwatch as ktw

    inputs = keras.Input((64,))
    hidden = layers.Block({"units": 16, "batch_norm": {}, "dropout": 0.0})(
        inputs
    )
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    block = model.layers[1]
    beta = next(v for v in block.trainable_variables if "beta" in v.path)
    beta.assign(np.full(16, -50.0))  # every unit's pre-activation < 0
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    watch.set_model(model)
    assert not watch.probe.layout.unchecked_relu_layers
    record = watch.probe(0, 0)
    [dead] = record.dead_units
    assert (dead.dead_units, dead.units, dead.source) == (16, 16, "gradients")
