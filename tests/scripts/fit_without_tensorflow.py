"""A watched, rescued fit on JAX or PyTorch in a Python where TensorFlow
cannot be imported, read back from its TensorBoard files; prints a JSON
summary on its last line.

    KERAS_BACKEND=jax python tests/scripts/fit_without_tensorflow.py LOG_DIR
"""

import json
import sys

# Python's own way to make a module unimportable: `import tensorflow` raises
# ModuleNotFoundError, `importlib.util.find_spec("tensorflow")` is None.
sys.modules["tensorflow"] = None

import keras  # noqa: E402

import keras_trainwatch as ktw  # noqa: E402
from keras_trainwatch.datasets import load_digits  # noqa: E402
from keras_trainwatch.tensorboard.reader import read_runs  # noqa: E402


def convnet_at_rate_5():
    keras.utils.set_random_seed(0)
    # The rescue benchmark's convnet at ten times a rate that trains it: its
    # convolutions die within the first steps on every backend.
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", name="conv_0"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv_1"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    )
    model.compile(
        keras.optimizers.SGD(5.0),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit(model, x, y, callbacks):
    history = model.fit(
        x[:1400],
        y[:1400],
        batch_size=64,
        epochs=2,
        validation_data=(x[1400:], y[1400:]),
        callbacks=callbacks,
        verbose=0,
    )
    return float(history.history["val_accuracy"][-1])


def main(log_dir):
    x, y = load_digits(flatten=False)
    unwatched = fit(convnet_at_rate_5(), x, y, [])
    model = convnet_at_rate_5()
    watch = ktw.GradientWatch(
        (x[:64], y[:64]), every_n_steps=5, log_dir=log_dir
    )
    reducer = ktw.AutoLRReducer(watch=watch, rollback=True, monitor=None)
    watched = fit(model, x, y, [watch, reducer])
    [run] = read_runs(log_dir)
    print(
        json.dumps(
            {
                "tensorflow_imported": sys.modules["tensorflow"] is not None,
                "probes": len(watch.records),
                "findings": sorted({f.kind for f in run.findings}),
                "reductions": len(reducer.reductions),
                "val_accuracy": watched,
                "unwatched_val_accuracy": unwatched,
                "rows_read_back": len(run.findings),
                "loss_points": len(run.scalars["probe/loss"]),
                "relative_grad_layers": sorted(run.series("relative_grad")),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
