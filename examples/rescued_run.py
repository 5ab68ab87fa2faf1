"""A run rescued: SGD at a learning rate that makes the loss NaN, first alone,
then with a GradientWatch and an AutoLRReducer that lowers the rate the moment
the gradients start to explode (and rolls back if the loss still turns NaN).

    python examples/rescued_run.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import dead_relu

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np

import keras_trainwatch as ktw


def mlp():
    keras.utils.set_random_seed(0)
    return dead_relu.mlp(keras.optimizers.SGD(0.3))


def main(epochs=5):
    x, y = dead_relu.regression_data()
    print("== SGD at learning rate 0.3, alone")
    alone = mlp().fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    print(f"   loss per epoch: {np.round(alone.history['loss'], 4).tolist()}")

    print("\n== the same, with GradientWatch + AutoLRReducer")
    watch = ktw.GradientWatch((x[:256], y[:256]), every_n_steps=5)
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=2, factor=0.5, watch=watch, rollback=True
    )
    model = mlp()
    rescued = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[watch, reducer],
    )
    print(f"   loss per epoch: {np.round(rescued.history['loss'], 4).tolist()}")
    for reduction in reducer.reductions:
        print(
            f"   step {reduction.step}: {reduction.old_lr:.4g} -> "
            f"{reduction.new_lr:.4g} ({reduction.reason})"
        )
    return alone, rescued, reducer


if __name__ == "__main__":
    main()
