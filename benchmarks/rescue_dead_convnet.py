"""Rescue of a network whose layers die: the keras.io "Simple MNIST convnet"
shape (two ReLU convolutions) on the shipped digits at SGD 5.0, ten times a
rate that trains it, four ways:

- unwatched;
- watched, `AutoLRReducer` without rollback (the rate lowered on dead
  weights);
- watched, `AutoLRReducer(rollback=True)` (back to the last healthy state);
- its healthy twin at SGD 0.5, unwatched.

Every run is labelled independently of the watch: the share of dead
channels counted from the convolutions' outputs on the held-out digits, and
the accuracy against chance (0.1).

    .venv/bin/python benchmarks/rescue_dead_convnet.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow_if_backend

import_tensorflow_if_backend()

import keras
import numpy as np

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

TRAIN = 1400


def convnet():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", name="conv_0"),
            keras.layers.Conv2D(32, 3, activation="relu", name="conv_1"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def dead_share(model, x):
    """The largest share of channels that output 0 for every held-out image
    and position, over the two convolutions (counted from their outputs)."""
    outputs = keras.Model(
        model.inputs[0],
        [model.get_layer(f"conv_{i}").output for i in (0, 1)],
    )(x)
    return max(
        float(
            np.mean(np.max(keras.ops.convert_to_numpy(o), axis=(0, 1, 2)) <= 0)
        )
        for o in outputs
    )


def run(rate, reducer, epochs, **reducer_args):
    """Trains the convnet at `rate`: unwatched (`reducer=None`), or watched
    every 5 steps with an `AutoLRReducer(rollback=reducer, **reducer_args)`.

    Returns:
        The validation accuracy per epoch, the dead share counted from the
        outputs, and the reducer's rollbacks and reductions (`None` when
        unwatched).
    """
    x, y = load_digits(flatten=False)
    keras.utils.set_random_seed(0)
    model = convnet()
    model.compile(
        keras.optimizers.SGD(rate),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks, auto = [], None
    if reducer is not None:
        watch = ktw.GradientWatch(
            (x[TRAIN : TRAIN + 64], y[TRAIN : TRAIN + 64]),
            every_n_steps=5,
            on_finding=lambda finding: None,
        )
        auto = ktw.AutoLRReducer(
            monitor=None, watch=watch, rollback=reducer, **reducer_args
        )
        callbacks = [watch, auto]
    start = time.perf_counter()
    history = model.fit(
        x[:TRAIN],
        y[:TRAIN],
        epochs=epochs,
        verbose=0,
        callbacks=callbacks,
        validation_data=(x[TRAIN:], y[TRAIN:]),
    )
    seconds = time.perf_counter() - start
    return {
        "accuracy": history.history["val_accuracy"],
        "dead": dead_share(model, x[TRAIN:]),
        "rollbacks": None if auto is None else auto.rollbacks,
        "reductions": None if auto is None else auto.reductions,
        "seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    rows = [
        ("SGD 5.0, unwatched", 5.0, None),
        ("SGD 5.0, reducer without rollback", 5.0, False),
        ("SGD 5.0, reducer with rollback", 5.0, True),
        ("SGD 0.5 (healthy twin), unwatched", 0.5, None),
    ]
    print(
        f"{'run':36} {'val accuracy per epoch':34} {'dead':>5} "
        f"{'rollb.':>6} {'red.':>4} {'s':>5}"
    )
    for name, rate, reducer in rows:
        r = run(rate, reducer, args.epochs)
        accuracy = " ".join(f"{a:.3f}" for a in r["accuracy"])
        print(
            f"{name:36} {accuracy:34} {r['dead']:5.2f} "
            f"{'-' if r['rollbacks'] is None else r['rollbacks']:>6} "
            f"{'-' if r['reductions'] is None else len(r['reductions']):>4} "
            f"{r['seconds']:5.1f}"
        )
        for reduction in r["reductions"] or []:
            print(f"    step {reduction.step}: {reduction.reason}")
    print("chance accuracy: 0.100; dead: the largest share of dead channels")


if __name__ == "__main__":
    main()
