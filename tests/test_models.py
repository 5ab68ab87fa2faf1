import keras
import numpy as np
import pytest
from helpers import assert_watched_silently

import keras_trainwatch as ktw
from keras_trainwatch.models import build_cnn, build_mlp, build_residual_mlp

pytestmark = pytest.mark.backends


BUILDERS = {
    "mlp": (lambda **kw: build_mlp((64,), 10, **kw), "digits"),
    "mlp_batch_norm": (
        lambda **kw: build_mlp((64,), 10, batch_norm=True, **kw),
        "digits",
    ),
    "cnn": (
        lambda **kw: build_cnn(
            (8, 8, 1), 10, filters=(16, 32), dense_widths=(16,), **kw
        ),
        "digit_images",
    ),
    "cnn_spatial_dropout": (
        lambda **kw: build_cnn(
            (8, 8, 1),
            10,
            filters=(16, 32),
            batch_norm={"position": "after"},
            dropout={"rate": 0.1, "spatial": True},
            **kw,
        ),
        "digit_images",
    ),
    "residual": (
        lambda **kw: build_residual_mlp((64,), 10, width=32, blocks=3, **kw),
        "digits",
    ),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_model_trains_on_digits_and_round_trips_through_keras_files(
    name, request, tmp_path
):
    build, data = BUILDERS[name]
    x, y = request.getfixturevalue(data)
    model = build(compile=True, learning_rate=3e-3)
    assert model.loss == "sparse_categorical_crossentropy"
    history = model.fit(x[:1024], y[:1024], epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.2  # twice chance
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        model.predict(x[:64], verbose=0), loaded.predict(x[:64], verbose=0)
    )


def test_defaults_follow_the_best_practices():
    model = build_mlp((64,), 10)
    dense = model.get_layer("hidden_0_dense")
    assert dense.activation.__name__ == "relu"
    assert type(dense.kernel_initializer).__name__ == "HeNormal"
    assert model.get_layer("hidden_0_dropout").rate == 0.2
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in model.layers
    )
    assert any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in build_mlp((64,), 10, batch_norm=True).layers
    )


@pytest.mark.parametrize(
    "task, loss, activation",
    [
        ("multiclass", "sparse_categorical_crossentropy", "softmax"),
        ("binary", "binary_crossentropy", "sigmoid"),
        ("regression", "mse", "linear"),
    ],
)
def test_compile_picks_the_loss_that_fits_the_task(task, loss, activation):
    model = build_mlp(
        (4,),
        1 if task != "multiclass" else 3,
        task=task,
        compile=True,
        learning_rate=0.01,
    )
    assert model.loss == loss
    assert model.get_layer("output").activation.__name__ == activation
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: build_cnn((64,), 10), "A CNN needs spatial axes"),
        (lambda: build_cnn((8, 8, 8, 8, 1), 10), "A CNN needs spatial axes"),
        (lambda: build_mlp((64,), 10, widths=64, depth=0), "`depth`"),
        (lambda: build_mlp((64,), 10, widths=(64, -3)), "`widths`"),
        (lambda: build_mlp((64,), 10, widths=()), "`widths`"),
        (
            lambda: build_mlp((64,), 10, widths=(32,), depth=3),
            "only with a single integer width",
        ),
        (lambda: build_mlp((64,), 1), "at least 2 classes"),
        (lambda: build_mlp((64,), 10, task="ranking"), "`task`"),
        (lambda: build_cnn((8, 8, 1), 10, filters=(0,)), "`filters`"),
        (lambda: build_cnn((8, 8, 1), 10, pooling="median"), "`pooling`"),
        (lambda: build_residual_mlp((64,), 10, blocks=0), "`blocks`"),
        (lambda: build_mlp((64,), 10, dropout=1.0), "learns nothing"),
    ],
)
def test_impossible_configurations_fail_clearly(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_deep_sigmoid_without_remedies_vanishes_and_with_them_trains(digits):
    x, y = digits
    probe = (x[:256], y[:256])

    def sgd():
        return keras.optimizers.SGD(0.1, momentum=0.9)

    broken = build_mlp(
        (64,),
        10,
        widths=32,
        depth=20,
        activation="sigmoid",
        dropout=0.0,
        compile=True,
        optimizer=sgd(),
    )
    watch = ktw.GradientWatch(probe, on_finding=lambda f: None)
    history = broken.fit(
        x, y, epochs=4, batch_size=32, verbose=0, callbacks=[watch]
    )
    vanishing = {
        f.layer for f in watch.findings if f.kind == "vanishing_gradients"
    }
    assert "hidden_0_dense" in vanishing
    assert history.history["accuracy"][-1] < 0.2

    fixed = build_mlp(
        (64,),
        10,
        widths=32,
        depth=20,
        batch_norm=True,
        dropout=0.0,
        compile=True,
        optimizer=sgd(),
    )
    watch = ktw.GradientWatch(probe)
    history = fixed.fit(
        x, y, epochs=4, batch_size=32, verbose=0, callbacks=[watch]
    )
    assert_watched_silently(watch)
    assert history.history["accuracy"][-1] > 0.4
