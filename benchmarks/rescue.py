"""Rescue tables: does AutoLRReducer save runs that fail, leave healthy
ones alone, and what does rollback cost?

1. For each exploding and dead-ReLU case of the pathology suite (their
   labels confirmed by the suite's own gradient measurement), and for a
   healthy regression run with one poisoned batch (a loss spike), three runs
   from the same seed: no reducer; a watch (every 10 steps) with
   `AutoLRReducer` at its defaults (no rollback: a non-finite loss stops the
   run with `TrainingDivergedError`); the same with `rollback=True`.
   Printed: the final training loss of each (or where the run was stopped),
   reductions, rollbacks and the wall time of `fit`, next to the loss of the
   best constant prediction (measured on the case's data).
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


def poisoned_regression():
    """1536 samples in a fixed order; one batch of 16 (in epoch 2) has its
    targets multiplied by 1000."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96 * 16, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0).astype("float32")
    y[40 * 16 : 41 * 16] *= 1000.0
    return x, y


SPIKE = Case(
    "regression_poisoned_batch",
    "loss_spike",
    lambda: mlp(3, inputs=16, outputs=1),
    sgd(0.05),
    poisoned_regression,
    loss="mse",
)


def run(case: Case, reducer_kwargs: dict | None):
    keras.utils.set_random_seed(0)
    x, y = case.data()
    model = case.build()
    model.compile(case.optimizer(), case.loss)
    callbacks, watch, reducer = [], None, None
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
    start = time.perf_counter()
    try:
        history = model.fit(data, **fit_kwargs)
        outcome = f"{history.history['loss'][-1]:.4g}"
    except ktw.TrainingDivergedError:
        step = int(model.optimizer.iterations.numpy())
        outcome = f"stopped at step {step}"
    seconds = f"{time.perf_counter() - start:4.1f}s"
    if reducer is None:
        return f"{outcome} {seconds}"
    return (
        f"{outcome} ({len(reducer.reductions)} red., "
        f"{reducer.rollbacks} rollb.) {seconds}"
    )


def base_rate_loss(case: Case) -> float:
    """The loss of the best constant prediction, measured on the case's
    data: the targets' variance for MSE, the entropy of the class
    frequencies for cross-entropy. A final loss above it learned nothing."""
    _, y = case.data()
    y = np.asarray(y)
    if case.loss == "mse":
        return float(np.mean(np.var(y, axis=0)))
    frequencies = np.bincount(y.ravel().astype(int)) / y.size
    frequencies = frequencies[frequencies > 0]
    return float(-np.sum(frequencies * np.log(frequencies)))


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
        f"{'case':30} {'label':19} {'base rate':>9} {'no reducer':>16}  "
        f"{'reducer (defaults)':>40}  {'reducer, rollback=True':>34}"
    )
    for case in cases:
        plain = run(case, None)
        defaults = run(case, {})
        rollback = run(case, {"rollback": True})
        print(
            f"{case.name:30} {case.label:19} {base_rate_loss(case):9.4g} "
            f"{plain:>16}  {defaults:>40}  {rollback:>34}",
            flush=True,
        )
    print(
        "base rate: the loss of the best constant prediction; a final loss "
        "above it learned nothing"
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
