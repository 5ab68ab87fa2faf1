"""A watched and rescued fit under `python -W error`: any warning the
package causes, NumPy's or Keras's included, is an error here.

Run by test_no_warnings.py in a subprocess: `-W error` must be set before
anything is imported.
"""

import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import keras
import numpy as np

import keras_trainwatch as ktw
from keras_trainwatch.cli.main import main as trainwatch

log_dir = sys.argv[1]
rng = np.random.default_rng(0)
x = (rng.normal(size=(256, 20)) * 30).astype("float32")  # unscaled
y = (x[:, 0] > 0).astype("int64")
inputs = keras.Input((20,))
hidden = keras.layers.Dense(16, activation="tanh")(inputs)
hidden = keras.layers.Dense(16, activation="relu")(hidden)
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
watch = ktw.GradientWatch(
    (x[:64], y[:64]), every_n_steps=2, log_dir=log_dir, loss_patience=2
)
reducer = ktw.AutoLRReducer(watch=watch, rollback=True)
model.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[watch, reducer])
assert watch.findings, "the run must exercise the reporting paths"
trainwatch(["report", log_dir])
print("kinds:", sorted({f.kind for f in watch.findings}))
