"""Rescue tables: does AutoLRReducer save runs that fail, leave healthy
ones alone, and what does rollback cost?

1. For each exploding and dead-ReLU case of the pathology suite (their
   labels confirmed by the suite's own gradient measurement), and for a
   healthy regression run with one poisoned batch (a loss spike), three runs
   from the same seed: no reducer; a watch (every 10 steps) with
   `AutoLRReducer(rollback=False)` (a non-finite loss stops the run with
   `TrainingDivergedError`); the same with the reducer at its defaults
   (`rollback="auto"`, on for these models). Printed: the final model judged
   on the case's data (its loss from its predictions, and its accuracy for a
   classifier; the poisoned batch left out), where a run was stopped,
   reductions, rollbacks and the wall time of `fit`, next to the base rate
   (the loss of the best constant prediction and the commonest class's
   share, measured on the same rows).
2. `rescue_digits.py`'s table: convnets and MLPs on the shipped digits at
   rates that train them and at 2-10x too high, labelled by dead units
   counted from the layers' outputs and accuracy against chance.
3. The cost of rollback: the bytes one healthy snapshot holds and the time
   to take it, for the largest suite model and for ResNet50 (weights=None,
   224x224, Adam), next to the model's own weights and optimizer state.

    .venv/bin/python benchmarks/rescue.py
"""

from __future__ import annotations

import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import rescue_digits
import tensorflow as tf
from pathology_suite import CASES, DEAD, EXPLODING, Case, mlp, sgd

import keras_trainwatch as ktw
from keras_trainwatch.reducer.rollback import HealthySnapshot

POISONED = slice(40 * 16, 41 * 16)


def poisoned_regression():
    """1536 samples in a fixed order; one batch of 16 (in epoch 2) has its
    targets multiplied by 1000."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96 * 16, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0).astype("float32")
    y[POISONED] *= 1000.0
    return x, y


SPIKE = Case(
    "regression_poisoned_batch",
    "loss_spike",
    lambda: mlp(3, inputs=16, outputs=1),
    sgd(0.05),
    poisoned_regression,
    loss="mse",
)


def clean_rows(case: Case) -> np.ndarray:
    """The rows a run is judged on: all of them, but the poisoned batch."""
    x, _ = case.data()
    rows = np.ones(len(x), dtype=bool)
    if case is SPIKE:
        rows[POISONED] = False
    return rows


def run(case: Case, reducer_kwargs: dict | None) -> dict:
    """Trains `case` from seed 0, without a reducer (`None`) or with a watch
    every 10 steps and `AutoLRReducer(**reducer_kwargs)`.

    Returns:
        The final model judged on the case's data (its loss, computed here
        from its predictions, and its accuracy for a classifier), where it
        was stopped (or `None`), reductions, rollbacks and `fit` seconds.
    """
    keras.utils.set_random_seed(0)
    x, y = case.data()
    model = case.build()
    model.compile(case.optimizer(), case.loss)
    callbacks, reducer = [], None
    if reducer_kwargs is not None:
        watch = ktw.GradientWatch(
            (x[:256], y[:256]),
            probe_samples=None,
            every_n_steps=10,
            on_finding=lambda f: None,
        )
        reducer = ktw.AutoLRReducer(
            watch=watch, monitor="loss", patience=100, **reducer_kwargs
        )
        callbacks = [watch, reducer]
    fit_kwargs = {"epochs": case.epochs, "verbose": 0, "callbacks": callbacks}
    if case is SPIKE:
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        fit_kwargs["steps_per_epoch"] = 32
    else:
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    stopped_at = None
    start = time.perf_counter()
    try:
        model.fit(data, **fit_kwargs)
    except ktw.TrainingDivergedError:
        stopped_at = int(model.optimizer.iterations.numpy())
    seconds = time.perf_counter() - start
    return {
        **judged(case, model),
        "stopped_at": stopped_at,
        "reductions": None if reducer is None else len(reducer.reductions),
        "rollbacks": None if reducer is None else reducer.rollbacks,
        "seconds": seconds,
    }


def judged(case: Case, model) -> dict:
    """The model's loss on the case's data (the poisoned batch left out),
    and its accuracy when it is a classifier."""
    x, y = case.data()
    rows = clean_rows(case)
    x, y = x[rows], np.asarray(y)[rows]
    predicted = model.predict(x, batch_size=256, verbose=0)
    loss = keras.ops.convert_to_numpy(keras.losses.get(case.loss)(y, predicted))
    accuracy = None
    if case.loss != "mse":
        accuracy = float(np.mean(np.argmax(predicted, -1) == y.ravel()))
    return {"loss": float(np.mean(loss)), "accuracy": accuracy}


def cell(result: dict) -> str:
    """Loss, accuracy, where stopped, reductions/rollbacks, seconds."""
    text = f"{result['loss']:.4g}"
    if result["accuracy"] is not None:
        text += f" {result['accuracy']:.2f}"
    if result["stopped_at"] is not None:
        text += f" stop@{result['stopped_at']}"
    if result["reductions"] is not None:
        text += f" {result['reductions']}/{result['rollbacks']}"
    return f"{text} {result['seconds']:4.1f}s"


def base_rate(case: Case) -> str:
    """The loss of the best constant prediction, measured on the rows the
    runs are judged on (the targets' variance for MSE, the entropy of the
    class frequencies for cross-entropy), and the share of the commonest
    class for a classifier: a run at or above that loss, or at that
    accuracy, learned nothing."""
    _, y = case.data()
    y = np.asarray(y)[clean_rows(case)]
    if case.loss == "mse":
        return f"{np.mean(np.var(y, axis=0)):.4g}"
    frequencies = np.bincount(y.ravel().astype(int)) / y.size
    commonest = frequencies.max()
    frequencies = frequencies[frequencies > 0]
    entropy = -np.sum(frequencies * np.log(frequencies))
    return f"{entropy:.4g} {commonest:.2f}"


def snapshot_cost(model):
    """(bytes held by one snapshot, seconds to take it, bytes of weights
    and optimizer state)."""
    snapshot = HealthySnapshot(model)
    started = time.perf_counter()
    snapshot.take()
    seconds = time.perf_counter() - started
    held = sum(v.nbytes for v in snapshot._values)
    state = sum(
        np.prod(v.shape) * np.dtype(v.dtype).itemsize
        for v in model.variables + model.optimizer.variables
    )
    snapshot.discard()
    return held, seconds, state


def built_with_optimizer(model, optimizer):
    model.compile(optimizer, "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def main():
    logging.getLogger("keras_trainwatch").setLevel(logging.ERROR)
    cases = [c for c in CASES if c.label in (EXPLODING, DEAD)] + [SPIKE]
    print(
        f"{'case':30} {'label':19} {'base rate':>10}  {'no reducer':>22}  "
        f"{'reducer, rollback=False':>30}  {'reducer (defaults)':>30}"
    )
    for case in cases:
        plain = run(case, None)
        without = run(case, {"rollback": False})
        defaults = run(case, {})
        print(
            f"{case.name:30} {case.label:19} {base_rate(case):>10}  "
            f"{cell(plain):>22}  {cell(without):>30}  {cell(defaults):>30}",
            flush=True,
        )
    print(
        "each cell: the final model's loss on the case's data (and its "
        "accuracy, for a classifier), stop@step where the run was stopped, "
        "reductions/rollbacks, wall time of fit\n"
        "base rate: the loss of the best constant prediction (and, for a "
        "classifier, the share of the commonest class): a run at or above "
        "that loss, at that accuracy, learned nothing"
    )
    print("\nOn the shipped digits (rescue_digits.py):")
    rescue_digits.table()
    print("\nCost of rollback (one healthy snapshot, in memory):")
    models = {
        "pathology-suite MLP (3 x 256)": built_with_optimizer(
            mlp(3), keras.optimizers.Adam()
        ),
        "ResNet50 (weights=None, 224x224)": built_with_optimizer(
            keras.applications.ResNet50(weights=None), keras.optimizers.Adam()
        ),
    }
    for name, model in models.items():
        held, seconds, state = snapshot_cost(model)
        print(
            f"  {name:34} snapshot {held / 2**20:8.1f} MiB "
            f"(weights + optimizer state {state / 2**20:8.1f} MiB), "
            f"taken in {seconds * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
