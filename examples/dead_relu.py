"""Dead ReLU units: Adam with a learning rate of 0.5, then 1e-3.

python examples/dead_relu.py
"""

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
from before_after import before_after


def regression_data(n=2048, features=16):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, features)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(features, 1)) / 4.0)
    return x, ((y - y.mean()) / y.std()).astype("float32")


def mlp(optimizer):
    """Three He-initialized ReLU layers for the regression data."""
    model = keras.Sequential(
        [keras.Input((16,))]
        + [
            keras.layers.Dense(
                64, activation="relu", kernel_initializer="he_normal"
            )
            for _ in range(3)
        ]
        + [keras.layers.Dense(1)]
    )
    model.compile(optimizer, "mse")
    return model


def main(epochs=5):
    return before_after(
        ("Adam, learning rate 0.5", lambda: mlp(keras.optimizers.Adam(0.5))),
        ("Adam, learning rate 1e-3", lambda: mlp(keras.optimizers.Adam(1e-3))),
        regression_data(),
        epochs,
        batch_size=32,
    )


if __name__ == "__main__":
    main()
