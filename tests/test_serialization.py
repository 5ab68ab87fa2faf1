"""Models saved with the package's classes load in a fresh process that
imports the package (before or after Keras), as `keras.models.load_model`
is used in serving: `ScaledSchedule` around each kind of schedule, a model
with `layers.Block`, every builder's model, and a `ModelCheckpoint` file."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw
from keras_trainwatch import layers, models

pytestmark = pytest.mark.backends


LOADER = Path(__file__).parent / "scripts" / "load_saved_models.py"

SCHEDULES = {
    "ExponentialDecay": lambda: keras.optimizers.schedules.ExponentialDecay(
        0.05, 10, 0.9
    ),
    "PiecewiseConstantDecay": lambda: (
        keras.optimizers.schedules.PiecewiseConstantDecay([5], [0.05, 0.01])
    ),
    "PolynomialDecay": lambda: keras.optimizers.schedules.PolynomialDecay(
        0.05, 100
    ),
    "InverseTimeDecay": lambda: keras.optimizers.schedules.InverseTimeDecay(
        0.05, 10, 0.5
    ),
    "CosineDecay": lambda: keras.optimizers.schedules.CosineDecay(0.05, 100),
    "CosineDecayRestarts": lambda: (
        keras.optimizers.schedules.CosineDecayRestarts(0.05, 20)
    ),
}


def load_elsewhere(order, x, paths):
    np.save(inputs := paths[0].parent / "inputs.npy", x)
    result = subprocess.run(
        [sys.executable, str(LOADER), order, str(inputs), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {Path(line["path"]).name: line for line in lines}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    """Every kind of model this package can put in a file, saved, with the
    predictions and rate they had."""
    folder = tmp_path_factory.mktemp("saved")
    x, y = digits[0][:128], digits[1][:128]
    expected = {}

    def keep(model, name):
        model.save(folder / name)
        inputs = x[:8].reshape((-1, 8, 8, 1)) if "cnn" in name else x[:8]
        expected[name] = (
            model.predict(inputs, verbose=0),
            float(np.asarray(model.optimizer.learning_rate)),
        )

    for name, schedule in SCHEDULES.items():
        model = compiled(
            mlp(depth=1), optimizer=keras.optimizers.SGD(schedule())
        )
        reducer = ktw.AutoLRReducer(
            monitor="loss", patience=0, factor=0.5, min_delta=100
        )
        model.fit(x, y, epochs=2, verbose=0, callbacks=[reducer])
        assert reducer.reductions, "the schedule was scaled"
        keep(model, f"{name}.keras")
    inputs = keras.Input((64,))
    hidden = layers.Block({"units": 16, "batch_norm": {}, "dropout": 0.1})(
        inputs
    )
    block_model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    keep(compiled(block_model), "block.keras")
    for name, model in {
        "mlp": models.build_mlp((64,), 10, compile=True),
        "cnn": models.build_cnn((8, 8, 1), 10, filters=(8,), compile=True),
        "residual": models.build_residual_mlp(
            (64,), 10, blocks=1, compile=True
        ),
    }.items():
        model.fit(
            x.reshape((-1, 8, 8, 1)) if name == "cnn" else x, y, verbose=0
        )
        keep(model, f"builder_{name}.keras")
    # A checkpoint written while AutoLRReducer scales a schedule.
    model = compiled(
        mlp(depth=1), optimizer=keras.optimizers.SGD(SCHEDULES["CosineDecay"]())
    )
    checkpoint = keras.callbacks.ModelCheckpoint(folder / "checkpoint.keras")
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, factor=0.5, min_delta=100
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[reducer, checkpoint])
    expected["checkpoint.keras"] = (
        model.predict(x[:8], verbose=0),
        float(np.asarray(model.optimizer.learning_rate)),
    )
    return folder, x[:8], expected


@pytest.mark.parametrize("order", ["keras-first", "package-first"])
def test_every_saved_model_loads_in_a_fresh_process(saved, order):
    folder, x, expected = saved
    images = x.reshape((-1, 8, 8, 1))
    paths = sorted(folder / name for name in expected)
    loaded = load_elsewhere(order, x, [p for p in paths if "cnn" not in p.name])
    loaded.update(
        load_elsewhere(order, images, [p for p in paths if "cnn" in p.name])
    )
    assert sorted(loaded) == sorted(expected)
    for name, (predictions, rate) in expected.items():
        assert "error" not in loaded[name], loaded[name]
        np.testing.assert_allclose(
            loaded[name]["predictions"], predictions, rtol=1e-5, atol=1e-6
        )
        assert loaded[name]["learning_rate"] == pytest.approx(rate, rel=1e-6)
    for name in SCHEDULES:
        assert loaded[f"{name}.keras"]["schedule"] == "ScaledSchedule"
    assert loaded["checkpoint.keras"]["schedule"] == "ScaledSchedule"


def test_a_process_that_never_imports_the_package_cannot_load_them(saved):
    # What docs/serialization.md says: the wrapper names a class of this
    # package, which a process must import to load it.
    folder, x, _ = saved
    loaded = load_elsewhere(
        "keras-only", x, [folder / "ExponentialDecay.keras"]
    )
    assert "ScaledSchedule" in loaded["ExponentialDecay.keras"]["error"]


@pytest.mark.only_on(
    "tensorflow",
    "jax",
    reason="model.export writes a TensorFlow SavedModel (through jax2tf on "
    "JAX); on PyTorch Keras's export stops in torch.export on this model",
)
def test_an_exported_artifact_serves_without_the_package(saved, tmp_path):
    # The way out docs/serialization.md offers a serving process that must
    # not import the package: an inference artifact, which names no class.
    folder, x, expected = saved
    model = keras.saving.load_model(folder / "block.keras")
    model.export(tmp_path / "served", verbose=False)
    np.save(tmp_path / "x.npy", x)
    snippet = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(tmp_path / 'served')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "print(np.asarray(served.serve(x)).tolist())\n"
        "print('keras_trainwatch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    *values, imported = result.stdout.strip().splitlines()
    assert imported == "False"
    np.testing.assert_allclose(
        json.loads(values[-1]), expected["block.keras"][0], rtol=1e-5, atol=1e-6
    )
