"""Rescue on the shipped digits: networks whose layers die at rates 2-10x
too high, and their healthy twins, each trained three ways:

- unwatched;
- watched every 5 steps, `AutoLRReducer(rollback=False)` (the rate lowered
  on the weights as they are);
- the same with the reducer at its defaults (`rollback="auto"`, on for
  these models: back to the last healthy state).

The networks: the keras.io "Simple MNIST convnet" shape (two ReLU
convolutions) under SGD at 0.5 (a rate that trains it), 1, 2.5 and 5; a
two-layer ReLU MLP under SGD at 0.1, 0.5 and 1, and under Adam at 1e-3 and
0.05.

Every run is labelled independently of the watch: the largest share of dead
units of a ReLU layer, counted from the layers' outputs on the held-out
digits (a unit, or a convolution's channel, that outputs 0 for every image
and position), and the validation accuracy against chance (0.1). A healthy
twin must end with no reduction at all (the runs watch findings, not a
plateau).

`--seeds N` instead compares, for each case and each seed 0..N-1, the
unwatched run with the reducer at its defaults (validation accuracy), and
counts the runs that end more than 0.02 below their unwatched twin.

    .venv/bin/python benchmarks/rescue_digits.py [--epochs 4] [--only conv]
    .venv/bin/python benchmarks/rescue_digits.py --seeds 10 [--epochs 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow_if_backend

import_tensorflow_if_backend()

import keras
from dead_units import dead_fraction

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

TRAIN = 1400
CHANCE = 0.1
# A run at chance, or with a layer this dead, is a failed run.
DEAD = 0.5
# A run counts as worse when it ends more than this below its unwatched twin
# (the same seed, the same batches): 8 of the 397 held-out digits.
WORSE_BY = 0.02


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


def mlp():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", name="dense_0"),
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


@dataclasses.dataclass(frozen=True)
class DigitsCase:
    """A network and an optimizer on the digits."""

    name: str
    build: Callable[[], keras.Model]
    optimizer: Callable[[], keras.optimizers.Optimizer]


def sgd(rate):
    return lambda: keras.optimizers.SGD(rate)


def adam(rate):
    return lambda: keras.optimizers.Adam(rate)


CASES = [
    DigitsCase("convnet, SGD 0.5 (trains)", convnet, sgd(0.5)),
    DigitsCase("convnet, SGD 1", convnet, sgd(1.0)),
    DigitsCase("convnet, SGD 2.5", convnet, sgd(2.5)),
    DigitsCase("convnet, SGD 5", convnet, sgd(5.0)),
    DigitsCase("MLP, SGD 0.1 (trains)", mlp, sgd(0.1)),
    DigitsCase("MLP, SGD 0.5", mlp, sgd(0.5)),
    DigitsCase("MLP, SGD 1", mlp, sgd(1.0)),
    DigitsCase("MLP, Adam 1e-3 (trains)", mlp, adam(1e-3)),
    DigitsCase("MLP, Adam 0.05", mlp, adam(0.05)),
]


def run(case, rollback, epochs, seed=0, **reducer_args):
    """Trains `case` from `seed`: unwatched (`rollback=None`), or watched
    every 5 steps with an `AutoLRReducer(rollback=rollback, **reducer_args)`.

    Returns:
        The validation accuracy per epoch, the dead share counted from the
        outputs, the reducer's rollbacks and reductions (`None` when
        unwatched) and the wall time of `fit` in seconds.
    """
    x, y = load_digits(flatten=False)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = case.build()
    model.compile(
        case.optimizer(),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks, auto = [], None
    if rollback is not None:
        watch = ktw.GradientWatch(
            (x[TRAIN : TRAIN + 64], y[TRAIN : TRAIN + 64]),
            every_n_steps=5,
            on_finding=lambda finding: None,
        )
        auto = ktw.AutoLRReducer(
            monitor=None, watch=watch, rollback=rollback, **reducer_args
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
        "dead": dead_fraction(model, x[TRAIN:]),
        "rollbacks": None if auto is None else auto.rollbacks,
        "rolls_back": None if auto is None else auto.rolls_back,
        "reductions": None if auto is None else auto.reductions,
        "seconds": seconds,
    }


def label(result) -> str:
    """The unwatched run's state, measured: a layer dead, at chance, or
    learning."""
    if result["dead"] >= DEAD:
        return "dead"
    if result["accuracy"][-1] < 2 * CHANCE:
        return "at chance"
    return "learns"


def cell(result) -> str:
    """Final accuracy, dead share, reductions/rollbacks and seconds."""
    text = f"{result['accuracy'][-1]:.3f} {result['dead']:4.2f}"
    if result["reductions"] is not None:
        text += f" {len(result['reductions'])}/{result['rollbacks']}"
    return f"{text} {result['seconds']:4.1f}s"


def table(epochs: int = 4, only: str = "") -> None:
    """Prints the table of the cases whose name contains `only`."""
    # The reasons are printed under the table, not as they happen.
    logging.getLogger("keras_trainwatch").setLevel(logging.ERROR)
    print(
        f"{'case':26} {'measured':9} {'unwatched':>20}  "
        f"{'reducer, rollback=False':>26}  {'reducer (defaults)':>26}"
    )
    reasons = []
    for case in CASES:
        if only not in case.name:
            continue
        plain = run(case, None, epochs)
        lowered = run(case, False, epochs)
        rolled = run(case, "auto", epochs)
        assert rolled["rolls_back"], "rollback='auto' is on for these models"
        print(
            f"{case.name:26} {label(plain):9} {cell(plain):>20}  "
            f"{cell(lowered):>26}  {cell(rolled):>26}",
            flush=True,
        )
        for title, result in (
            ("rollback=False", lowered),
            ("defaults", rolled),
        ):
            for reduction in result["reductions"]:
                reasons.append(
                    f"  {case.name}, {title}, step {reduction.step}: "
                    f"{reduction.reason}"
                )
    print(
        f"each cell: final val accuracy (chance {CHANCE}), largest dead "
        "share of a ReLU layer, reductions/rollbacks, wall time of fit"
    )
    print("\n".join(reasons))


def seeds_table(seeds: int, epochs: int = 4, only: str = "") -> None:
    """Prints, per case, each seed's validation accuracy unwatched and with
    the reducer at its defaults, and counts the runs that end worse."""
    logging.getLogger("keras_trainwatch").setLevel(logging.ERROR)
    print(
        f"seeds 0-{seeds - 1}, each: unwatched > reducer (defaults) final "
        "val accuracy (reductions/rollbacks)"
    )
    worse, total = [], 0
    for case in CASES:
        if only not in case.name:
            continue
        cells = []
        for seed in range(seeds):
            plain = run(case, None, epochs, seed)
            watched = run(case, "auto", epochs, seed)
            before, after = plain["accuracy"][-1], watched["accuracy"][-1]
            cells.append(
                f"{before:.2f}>{after:.2f}"
                f"({len(watched['reductions'])}/{watched['rollbacks']})"
            )
            total += 1
            if after < before - WORSE_BY:
                worse.append(f"{case.name} seed {seed}")
        print(f"{case.name:26} " + " ".join(cells), flush=True)
    print(
        f"runs ending more than {WORSE_BY} below their unwatched twin: "
        f"{len(worse)} of {total}" + (f" ({', '.join(worse)})" if worse else "")
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--only", default="", help="run the cases whose name contains this"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=0,
        help="compare unwatched and defaults over this many seeds instead",
    )
    args = parser.parse_args()
    if args.seeds:
        seeds_table(args.seeds, args.epochs, args.only)
    else:
        table(args.epochs, args.only)


if __name__ == "__main__":
    main()
