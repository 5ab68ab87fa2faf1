"""Exploding gradients: huge initial weights, then batch normalization.

python examples/exploding_gradients.py
"""

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
from before_after import before_after

from keras_trainwatch.datasets import load_digits

HUGE = keras.initializers.RandomNormal(stddev=3.0)


def mlp(batch_norm, depth=4):
    model = keras.Sequential([keras.Input((64,))])
    for _ in range(depth):
        model.add(keras.layers.Dense(64, kernel_initializer=HUGE))
        if batch_norm:
            model.add(keras.layers.BatchNormalization())
        model.add(keras.layers.Activation("relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return model


def main(epochs=5):
    return before_after(
        ("weights drawn with stddev 3", lambda: mlp(batch_norm=False)),
        (
            "the same weights, batch normalization after each layer",
            lambda: mlp(batch_norm=True),
        ),
        load_digits(),
        epochs,
        batch_size=32,
    )


if __name__ == "__main__":
    main()
