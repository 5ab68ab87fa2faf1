"""The GPU check of issue 28: the probe on JAX and PyTorch on an accelerator.

Run by `benchmarks/gpu_check.sh` once per backend (`KERAS_BACKEND`), on
whatever device the backend uses by default (the GPU where there is one; a
CPU run checks the script, not the figures). Prints, as lines of
`key: value`:

- the pathology suite's core cases: label, label confirmed independently,
  findings (`benchmarks/pathology_suite.py`, the same code);
- a convnet (32x32x3, 10 classes, batch 128) and an MLP: the probe's time
  per sample against a training step's (steady state, medians), the
  one-time setup (building and validating the probe, and its first call)
  against Keras's first training step (its compilation included), the
  package's host reads per probe and per 100 watched steps (counted at its
  read points: the probe's one read, the step losses'), and the peak device
  memory of a probe against a training step's (each in a process of its
  own: `--memory probe|step`).

    KERAS_BACKEND=jax python benchmarks/gpu_check.py [--cases ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np

CORE_CASES = [
    "sigmoid_mlp_10_adam",
    "sigmoid_cnn_6",
    "relu_mlp_init_std_3",
    "sgd_lr_0.35_regression",
    "deep_linear_20",
    "bias_minus_20_layer_1",
    "sgd_lr_1_digits",
    "he_relu_mlp_adam",
    "bn_cnn",
    "simple_rnn_100_steps",
    "lstm_short_sequences",
]
BATCH = 128


def convnet():
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def mlp():
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


MODELS = {"convnet": convnet, "mlp": mlp}


def data(samples=BATCH * 40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=samples)
    return x, y


def compiled(name):
    keras.utils.set_random_seed(0)
    model = MODELS[name]()
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy"
    )
    return model


def synchronize(value=None):
    """Waits for the device (the timings must not end at a dispatch)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        jax.effects_barrier()
        if value is not None:
            jax.block_until_ready(value)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def timings(name, repeats=20):
    from keras_trainwatch.probe import ProbeBatch
    from keras_trainwatch.probe.build import build_probe

    x, y = data()
    # Keras's first step, compilation included, on a fresh model.
    model = compiled(name)
    start = time.perf_counter()
    model.train_on_batch(x[:BATCH], y[:BATCH])
    synchronize()
    first_step = time.perf_counter() - start
    steps = []
    for i in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(x[i * BATCH : (i + 1) * BATCH], y[:BATCH])
        synchronize()
        steps.append(time.perf_counter() - start)
    # The probe's setup and first call, on another fresh model.
    model = compiled(name)
    start = time.perf_counter()
    probe = build_probe(model, ProbeBatch.from_data((x[:BATCH], y[:BATCH])))
    probe(0, 0)
    setup = time.perf_counter() - start
    probes = []
    for i in range(repeats):
        start = time.perf_counter()
        probe(0, i + 1)
        probes.append(time.perf_counter() - start)
    return {
        "step_ms_per_sample": 1e3 * statistics.median(steps) / BATCH,
        "probe_ms_per_sample": 1e3 * statistics.median(probes) / BATCH,
        "probe_over_step": statistics.median(probes) / statistics.median(steps),
        "keras_first_step_s": first_step,
        "setup_s": setup,
        "setup_over_first_step": setup / first_step,
    }


def host_reads(name, steps=200, every=50):
    """The package's host reads in watched `fit`s of `steps` steps with a
    probe every `every` steps, without and with `AutoLRReducer`, counted
    where the package reads: the probe's one read per probe, the step
    losses' reads (one by one for the first 32 steps, then 16 at a time,
    which the reducer's non-finite check shares), and the reducer's own
    reads (its check of the weights before a save: none here). Apart from
    those, per fit rather than per step: the reads of the reducer's
    rollback snapshot (on by default; one per variable, at the fit's start
    and at each epoch end)."""
    import keras_trainwatch as ktw
    from keras_trainwatch.probe.backends.functional import FunctionalProbe
    from keras_trainwatch.reducer import rollback, save_guard
    from keras_trainwatch.watch import step_losses

    counts = {"probe": 0, "losses": 0, "reducer": 0, "snapshot": 0}
    original_init = FunctionalProbe.__init__

    def counting_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        engine_read = self._engine.read

        def read(values):
            counts["probe"] += 1
            return engine_read(values)

        self._engine.read = read

    def counting(module, key):
        original = module.to_numpy

        def to_numpy(value):
            counts[key] += 1
            return original(value)

        return original, to_numpy

    loss_read, step_losses.to_numpy = counting(step_losses, "losses")
    reducer_read, save_guard.to_numpy = counting(save_guard, "reducer")
    snapshot_read, rollback.to_numpy = counting(rollback, "snapshot")
    FunctionalProbe.__init__ = counting_init
    figures = {}
    try:
        x, y = data(steps * BATCH // 4)
        for reducer in (False, True):
            counts.update(probe=0, losses=0, reducer=0, snapshot=0)
            model = compiled(name)
            watch = ktw.GradientWatch(
                (x[:BATCH], y[:BATCH]), every_n_steps=every
            )
            callbacks = [watch]
            if reducer:
                callbacks.append(ktw.AutoLRReducer(watch=watch, monitor=None))
            model.fit(
                x,
                y,
                batch_size=BATCH // 4,
                epochs=1,
                callbacks=callbacks,
                verbose=0,
            )
            label = "with_reducer" if reducer else "watch_only"
            figures[f"{label}_probes"] = len(watch.records)
            figures[f"{label}_reads_per_probe"] = counts["probe"] / len(
                watch.records
            )
            per_step = counts["probe"] + counts["losses"] + counts["reducer"]
            figures[f"{label}_reads_per_100_steps"] = 100 * per_step / steps
            figures[f"{label}_snapshot_reads_per_fit"] = counts["snapshot"]
    finally:
        FunctionalProbe.__init__ = original_init
        step_losses.to_numpy = loss_read
        save_guard.to_numpy = reducer_read
        rollback.to_numpy = snapshot_read
    return figures


def peak_memory(name, what):
    """Peak device memory (bytes) of a probe or a training step, measured in
    a process that does only that (JAX cannot reset its peak)."""
    from keras_trainwatch.probe import ProbeBatch
    from keras_trainwatch.probe.build import build_probe

    x, y = data(BATCH)
    model = compiled(name)
    model.build((None, 32, 32, 3))
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        torch.cuda.reset_peak_memory_stats()
    if what == "probe":
        probe = build_probe(model, ProbeBatch.from_data((x, y)))
        probe(0, 0)
        probe(0, 1)
    else:
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
    synchronize()
    if backend == "torch":
        return int(torch.cuda.max_memory_allocated())
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def memory_in_subprocess(name, what):
    result = subprocess.run(
        [sys.executable, __file__, "--memory", what, "--model", name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        return f"failed: {result.stderr.strip().splitlines()[-1:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def pathology_cases(cases):
    suite = os.path.join(os.path.dirname(__file__), "pathology_suite.py")
    result = subprocess.run(
        [sys.executable, suite, "--only", *cases],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.stdout + (result.stderr[-2000:] if result.returncode else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="*", default=CORE_CASES)
    parser.add_argument("--memory", choices=["probe", "step"])
    parser.add_argument("--model", default="convnet")
    parser.add_argument("--skip-suite", action="store_true")
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(peak_memory(args.model, args.memory)))
        return
    backend = keras.backend.backend()
    device = "cpu"
    if backend == "jax":
        import jax

        device = str(jax.devices()[0])
    elif backend == "torch":
        import torch

        device = (
            torch.cuda.get_device_name(0)
            if torch.cuda.is_available()
            else "cpu"
        )
    print(f"backend: {backend}; device: {device}; keras {keras.__version__}")
    if not args.skip_suite:
        print(pathology_cases(args.cases))
    for name in MODELS:
        figures = timings(name)
        figures.update(host_reads(name))
        figures["peak_probe_bytes"] = memory_in_subprocess(name, "probe")
        figures["peak_step_bytes"] = memory_in_subprocess(name, "step")
        for key, value in figures.items():
            text = f"{value:.4g}" if isinstance(value, float) else value
            print(f"{name} {key}: {text}")


if __name__ == "__main__":
    main()
