"""Trains the same model several ways in one fresh process, with TensorFlow op
determinism on, and prints (as JSON) whether the final states match.

Run by test_watch.py in a subprocess, because op determinism cannot be
switched off again once on.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

tf.config.experimental.enable_op_determinism()
X, Y = load_digits()
X, Y = X[:512], Y[:512]


class NaiveProbe(keras.callbacks.Callback):
    """What a careless probe does: a plain training-mode forward pass, which
    moves batch-norm statistics and the dropout seed."""

    def on_train_batch_end(self, batch, logs=None):
        self.model(X[:64], training=True)


class Subclassed(keras.Model):
    """Built only when its first training step is traced (or by the watch)."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.norm = keras.layers.BatchNormalization()
        self.drop = keras.layers.Dropout(0.3)
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x, training=False):
        h = self.drop(
            self.norm(self.hidden(x), training=training), training=training
        )
        return self.out(h)


def sequential():
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.GaussianNoise(0.1),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def train(callbacks_for, build=sequential):
    keras.backend.clear_session()
    keras.utils.set_random_seed(42)
    model = build()
    model.compile(
        keras.optimizers.Adam(1e-2),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        X,
        Y,
        epochs=3,
        batch_size=32,
        shuffle=True,
        verbose=0,
        validation_split=0.1,
        callbacks=callbacks_for(),
    )
    state = [v.numpy() for v in model.variables + model.optimizer.variables]
    return state, history.history


def same(a, b):
    state_a, hist_a = a
    state_b, hist_b = b
    arrays_equal = len(state_a) == len(state_b) and all(
        np.array_equal(x, y) for x, y in zip(state_a, state_b)
    )
    shared = [k for k in hist_a if k in hist_b]
    return arrays_equal and all(hist_a[k] == hist_b[k] for k in shared)


log_dir = tempfile.mkdtemp()
plain = train(lambda: [])
plain_again = train(lambda: [])
watched = train(
    lambda: [
        ktw.GradientWatch((X[:64], Y[:64]), every_n_steps=1, log_dir=log_dir),
        ktw.GradientWatch((X[64:128], Y[64:128])),
    ]
)
naive = train(lambda: [NaiveProbe()])
subclassed = train(lambda: [], build=Subclassed)
subclassed_watched = train(
    lambda: [ktw.GradientWatch((X[:64], Y[:64]), every_n_steps=1)],
    build=Subclassed,
)
json.dump(
    {
        "plain_is_reproducible": same(plain, plain_again),
        "watched_equals_plain": same(plain, watched),
        "naive_probe_equals_plain": same(plain, naive),
        "subclassed_watched_equals_plain": same(subclassed, subclassed_watched),
        "variables": len(plain[0]),
    },
    sys.stdout,
)
