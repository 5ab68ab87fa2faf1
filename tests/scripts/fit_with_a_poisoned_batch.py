"""A watched fit with Keras's default progress bar whose 41st batch is
poisoned (inputs 300 times too large): the loss spikes, `AutoLRReducer`
rolls back past it, and the next probe resolves the spike. Run by
`tests/test_terminal_lines.py` in a pseudo-terminal and into a file."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

keras.utils.set_random_seed(0)
x, y = load_digits()
x, y = x[:1024].copy(), y[:1024]
x[40 * 16 : 41 * 16] *= 300.0
model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ]
)
model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
watch = ktw.GradientWatch((x[900:964], y[900:964]), every_n_steps=8)
reducer = ktw.AutoLRReducer(watch=watch, monitor=None)
model.fit(
    x, y, batch_size=16, epochs=1, shuffle=False, callbacks=[watch, reducer]
)
print("kinds:", sorted({f.kind for f in watch.findings}))
