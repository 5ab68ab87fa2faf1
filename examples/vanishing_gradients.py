"""Vanishing gradients: a deep sigmoid MLP on digits, then ReLU + He init.

python examples/vanishing_gradients.py
"""

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
from before_after import before_after

from keras_trainwatch.datasets import load_digits


def mlp(activation, initializer, depth=10):
    model = keras.Sequential([keras.Input((64,))])
    for _ in range(depth):
        model.add(
            keras.layers.Dense(
                64, activation=activation, kernel_initializer=initializer
            )
        )
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    return model


def main(epochs=5):
    return before_after(
        ("10 sigmoid layers", lambda: mlp("sigmoid", "glorot_uniform")),
        ("10 ReLU layers, He initialization", lambda: mlp("relu", "he_normal")),
        load_digits(),
        epochs,
        batch_size=32,
    )


if __name__ == "__main__":
    main()
