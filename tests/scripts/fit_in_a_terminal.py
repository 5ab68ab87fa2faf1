"""A watched fit with Keras's default progress bar (`fit` without
`verbose`), whose units die in the first epoch: run by
`tests/test_terminal_lines.py` in a pseudo-terminal, with an AutoLRReducer
that announces its reductions."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

keras.utils.set_random_seed(0)
x, y = load_digits()
model = keras.Sequential(
    [
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu", name="hidden"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ]
)
model.compile(keras.optimizers.SGD(5.0), "sparse_categorical_crossentropy")
watch = ktw.GradientWatch((x[:64], y[:64]), loss_spike_z=None)
# A reduction for the dead units at the first probe after the start, and
# one at each epoch end (no loss improves by 100).
reducer = ktw.AutoLRReducer(
    monitor="loss", patience=0, min_delta=100, factor=0.5, watch=watch
)
model.fit(x[:512], y[:512], epochs=2, callbacks=[watch, reducer])
print("kinds:", sorted({f.kind for f in watch.findings}))
