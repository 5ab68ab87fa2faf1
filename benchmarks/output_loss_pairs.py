"""Which output activations train with which losses in Keras 3: the
evidence behind the construction check `mismatched_output`.

Every output activation (linear, sigmoid, softmax, relu, elu, softplus,
tanh) is trained with every common loss on two tasks, each from two seeds,
by the same small network (two ReLU layers of 32, Adam, 30 epochs), and
scored on held-out data with code of its own (`toy_tasks.Task.score`):

- cross-entropies on a binary task (moons: one output unit for binary
  cross-entropy, two for the categorical ones) and a 4-class task (blobs;
  binary cross-entropy then reads the one-hot labels as 4 independent
  outputs);
- regression losses on targets of both signs (standardized) and on
  targets in (0, 1) (min-max scaled).

A pair *learns* a task when its held-out score gets at least half of the
way from chance to the score of the canonical pair (sigmoid with binary
cross-entropy, softmax with the categorical ones, linear with regression
losses) on the same task and seed. Printed: one row per pair with the
scores and the verdict; `breaks` means it learned neither task, `depends
on data` one of them.

    .venv/bin/python benchmarks/output_loss_pairs.py [--seeds 2]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import toy_tasks
from keras import layers as L

ACTIVATIONS = (
    "linear",
    "sigmoid",
    "softmax",
    "relu",
    "elu",
    "softplus",
    "tanh",
)
CROSS_ENTROPIES = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)
REGRESSION_LOSSES = ("mean_squared_error", "mean_absolute_error")
CANONICAL = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "mean_squared_error": "linear",
    "mean_absolute_error": "linear",
}
EPOCHS = 30


def tasks_for(loss, seed):
    """The two tasks of `loss`, as `(task, targets, output units)`."""
    if loss in REGRESSION_LOSSES:
        signed = toy_tasks.regression(seed=seed)
        low, high = signed.y.min(), signed.y.max()
        unit = toy_tasks.Task(
            "regression_0_1",
            signed.x,
            ((signed.y - low) / (high - low)).astype("float32"),
            signed.x_test,
            np.clip((signed.y_test - low) / (high - low), 0, 1).astype(
                "float32"
            ),
            0,
        )
        return [(signed, signed.y, 1), (unit, unit.y, 1)]
    pairs = []
    for task in (toy_tasks.moons(seed=seed), toy_tasks.blobs(seed=seed)):
        if loss == "sparse_categorical_crossentropy":
            pairs.append((task, task.y, task.classes))
        elif loss == "binary_crossentropy" and task.classes == 2:
            pairs.append((task, task.y.astype("float32"), 1))
        else:
            pairs.append(
                (task, toy_tasks.one_hot(task.y, task.classes), task.classes)
            )
    return pairs


def train(task, targets, units, activation, loss, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(task.x.shape[1:]),
            L.Dense(32, activation="relu"),
            L.Dense(32, activation="relu"),
            L.Dense(units, activation=activation),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), loss)
    model.fit(task.x, targets, epochs=EPOCHS, batch_size=32, verbose=0)
    score = task.score(model)
    keras.backend.clear_session()
    return score


def main(seeds):
    started = time.perf_counter()
    print(
        "| loss | output activation | held-out scores (task 1 seeds; task 2 "
        "seeds) | canonical pair's | learns task 1 / task 2 | verdict |\n"
        "|---|---|---|---|---|---|"
    )
    for loss in CROSS_ENTROPIES + REGRESSION_LOSSES:
        reference = {}
        for seed in range(seeds):
            for index, (task, targets, units) in enumerate(
                tasks_for(loss, seed)
            ):
                reference[index, seed] = (
                    train(task, targets, units, CANONICAL[loss], loss, seed),
                    task.chance,
                )
        for activation in ACTIVATIONS:
            scores, learned = {}, []
            for index in (0, 1):
                for seed in range(seeds):
                    task, targets, units = tasks_for(loss, seed)[index]
                    if activation == CANONICAL[loss]:
                        scores[index, seed] = reference[index, seed][0]
                    else:
                        scores[index, seed] = train(
                            task, targets, units, activation, loss, seed
                        )
                learned.append(
                    all(
                        scores[index, seed] >= chance + 0.5 * (best - chance)
                        for seed in range(seeds)
                        for best, chance in [reference[index, seed]]
                    )
                )
            verdict = (
                "learns"
                if all(learned)
                else "breaks"
                if not any(learned)
                else "depends on data"
            )
            listed = "; ".join(
                " ".join(f"{scores[i, s]:.2f}" for s in range(seeds))
                for i in (0, 1)
            )
            canonical = "; ".join(
                " ".join(f"{reference[i, s][0]:.2f}" for s in range(seeds))
                for i in (0, 1)
            )
            print(
                f"| {loss} | {activation} | {listed} | {canonical} | "
                f"{'yes' if learned[0] else 'no'} / "
                f"{'yes' if learned[1] else 'no'} | {verdict} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    main(parser.parse_args().seeds)
