"""What watching costs: GradientWatch against `fit` alone.

Reference workloads: an MLP (784-256-256-10) and a small CNN on 60,000
generated samples of MNIST's shape (28x28x1, 10 classes), batch 128, on CPU.

1. End to end: `fit` alone, GradientWatch at its defaults (a probe per
   epoch), GradientWatch(every_n_steps=50), and, for reference, Keras's
   TensorBoard(histogram_freq=1), interleaved in a shuffled order and
   repeated. Printed: median wall time of the whole `fit` (tracing
   included) and of the epochs after the first, with their ratios to `fit`
   alone. On a shared 2-core machine these ratios move by a few percent from
   run to run, more than the overhead being measured.
2. Components, each timed many times: one training step (from the plain
   fits), one probe on the same batch size, the one-time setup (checking the
   probe batch and the first probe, eager, on a fresh model) and the second
   probe (which traces the compiled one), the per-execution cost of
   the step hook used by `every_n_steps`, the number of traces, and the
   process memory over 50 probes. From these, the overhead each variant adds
   per epoch and once per `fit`.

    python benchmarks/overhead.py [--epochs 3] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import tensorflow as tf

import keras_trainwatch as ktw
from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.watch.step_losses import StepLossReader

BATCH = 128
EVERY = 50


def mlp():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


WORKLOADS = {"mlp": mlp, "cnn": cnn}


def _quiet(finding):
    """Findings are not the point here (random labels kill some ReLUs)."""


VARIANTS = {
    "fit alone": lambda probe, log_dir: [],
    "watch per epoch": lambda probe, log_dir: [
        ktw.GradientWatch(probe, probe_samples=None, on_finding=_quiet)
    ],
    f"watch every {EVERY} steps": lambda probe, log_dir: [
        ktw.GradientWatch(
            probe, probe_samples=None, every_n_steps=EVERY, on_finding=_quiet
        )
    ],
    "Keras TensorBoard hist=1": lambda probe, log_dir: [
        keras.callbacks.TensorBoard(log_dir, histogram_freq=1)
    ],
}


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch from the first callback's start to the last one's end
    (one instance is placed first in the callback list, one last)."""

    def __init__(self, times, edge):
        super().__init__()
        self.times, self.edge = times, edge

    def on_epoch_begin(self, epoch, logs=None):
        if self.edge == "start":
            self.times.append(-time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        if self.edge == "end":
            self.times[-1] += time.perf_counter()


def compiled(build):
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def time_fit(build, variant, data, epochs, log_dir):
    x, y = data
    model = compiled(build)
    times = []
    callbacks = [
        EpochTimer(times, "start"),
        *VARIANTS[variant]((x[:BATCH], y[:BATCH]), log_dir),
        EpochTimer(times, "end"),
    ]
    start = time.perf_counter()
    model.fit(
        x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks
    )
    return time.perf_counter() - start, statistics.median(times[1:])


def end_to_end(build, data, epochs, repeats, log_dir, shuffler):
    fits = {v: [] for v in VARIANTS}
    epoch_times = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        order = list(VARIANTS)
        shuffler.shuffle(order)
        for variant in order:
            total, epoch = time_fit(build, variant, data, epochs, log_dir)
            fits[variant].append(total)
            epoch_times[variant].append(epoch)
    return (
        {v: statistics.median(t) for v, t in fits.items()},
        {v: statistics.median(t) for v, t in epoch_times.items()},
    )


def memory_mb():
    """(current RSS, peak RSS) of this process in MB, from /proc."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value
    return (
        int(fields["VmRSS"].split()[0]) / 1024,
        int(fields["VmHWM"].split()[0]) / 1024,
    )


def setup_cost(build, data, repeats=5):
    """On fresh models: `set_model` and the first probe (eager), which come
    before the first training step, and the second probe, which traces the
    compiled function; medians."""
    x, y = data[0][:BATCH], data[1][:BATCH]
    costs, seconds = [], []
    for _ in range(repeats):
        model = compiled(build)
        watch = ktw.GradientWatch((x, y), probe_samples=None, on_finding=_quiet)
        start = time.perf_counter()
        watch.set_model(model)
        watch.probe(0, 0)
        costs.append(time.perf_counter() - start)
        start = time.perf_counter()
        watch.probe(0, 1)
        seconds.append(time.perf_counter() - start)
    return statistics.median(costs), statistics.median(seconds)


def probe_costs(build, data, repeats=100):
    x, y = data[0][:BATCH], data[1][:BATCH]
    model = compiled(build)
    watch = ktw.GradientWatch((x, y), probe_samples=None, on_finding=_quiet)
    watch.set_model(model)
    watch.probe(0, 0)  # eager
    watch.probe(0, 0)  # traces
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        watch.probe(0, i)
        times.append(time.perf_counter() - start)
    rss_first, _ = memory_mb()
    for i in range(50):
        watch.probe(0, i)
    rss_last, peak = memory_mb()
    return (
        statistics.median(times),
        watch.probe.tracing_count,
        rss_first,
        rss_last,
        peak,
    )


def hook_cost(calls=100_000):
    """Seconds the step hook adds to one execution (a no-op stands for the
    training step; the hook's own `after_execution` does its step count)."""

    class Model:
        train_function = staticmethod(lambda iterator: None)

    model = Model()
    counter = [0]
    TrainStepHook(lambda logs: counter.__setitem__(0, counter[0] + 1)).install(
        model
    )
    wrapped, bare = model.train_function, model.train_function.wrapped
    timings = {}
    for name, function in (("bare", bare), ("wrapped", wrapped)) * 2:
        start = time.perf_counter()
        for _ in range(calls):
            function(None)
        timings[name] = (time.perf_counter() - start) / calls
    return max(timings["wrapped"] - timings["bare"], 0.0)


def step_loss_cost(build, data, calls=20_000):
    """Seconds the loss-spike rule adds to one execution: keeping the loss
    tensor the train function returned, and reading them 16 at a time."""
    model = compiled(build)
    captured = {}
    hook = TrainStepHook(lambda logs: captured.setdefault("logs", logs))

    class Install(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            hook.install(self.model)

    x, y = data
    model.fit(
        x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0, callbacks=[Install()]
    )
    reader = StepLossReader()
    start = time.perf_counter()
    for step in range(1, calls + 1):
        if reader.snapshot(captured["logs"], step, step):
            reader.read()
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="TensorFlow threads (default 1: steadier timings on a shared "
        "machine; 0 lets TensorFlow choose)",
    )
    args = parser.parse_args()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(0)
    data = (
        rng.random((args.samples, 28, 28, 1), dtype=np.float32),
        rng.integers(0, 10, args.samples),
    )
    steps = math.ceil(args.samples / BATCH)
    print(
        f"{args.samples} samples, batch {BATCH} ({steps} steps per epoch), "
        f"{args.epochs} epochs, {args.repeats} interleaved repeats, medians; "
        f"CPU with {os.cpu_count()} cores, TensorFlow threads: "
        f"{args.threads or 'default'}"
    )
    shuffler = random.Random(0)
    hook = hook_cost()
    with tempfile.TemporaryDirectory() as log_dir:
        for workload in args.workloads:
            build = WORKLOADS[workload]
            fits, epochs = end_to_end(
                build, data, args.epochs, args.repeats, log_dir, shuffler
            )
            pad = " " * (len(workload) + 2)
            print(f"\n{workload}: end to end")
            print(
                f"{pad}{'variant':<26}{'fit s':>8}{'ratio':>8}{'epoch s':>9}{'ratio':>8}"
            )
            for variant in VARIANTS:
                print(
                    f"{pad}{variant:<26}{fits[variant]:>8.2f}"
                    f"{fits[variant] / fits['fit alone']:>8.3f}{epochs[variant]:>9.2f}"
                    f"{epochs[variant] / epochs['fit alone']:>8.3f}"
                )
            epoch_s = epochs["fit alone"]
            step_s = epoch_s / steps
            probe_s, traces, rss_first, rss_last, peak = probe_costs(
                build, data
            )
            setup_s, trace_s = setup_cost(build, data)
            # Both variants hook every execution for the loss-spike rule.
            per_step = hook + step_loss_cost(build, data)
            per_epoch = probe_s + steps * per_step
            per_50 = math.ceil(steps / EVERY) * probe_s + steps * per_step
            fit_s = fits["fit alone"]
            print(f"{workload}: components")
            print(
                f"{pad}training step {step_s * 1e3:.2f} ms ({epoch_s:.2f} s per epoch)"
            )
            print(
                f"{pad}one probe {probe_s * 1e3:.2f} ms = {probe_s / step_s:.2f}x a "
                f"training step of the same batch size; probe traced {traces} time(s)"
            )
            print(
                f"{pad}one-time setup (set_model + first probe, eager) "
                f"{setup_s:.3f} s; the second probe traces the compiled one "
                f"{trace_s:.3f} s; step hook and loss-spike snapshot "
                f"{per_step * 1e6:.2f} us per execution ({per_step / step_s:.3%} "
                "of a step)"
            )
            print(
                f"{pad}watch per epoch: +{per_epoch / epoch_s:.2%} per epoch, plus "
                f"setup and trace once ({(setup_s + trace_s) / fit_s:.2%} of this "
                f"{args.epochs}-epoch fit)"
            )
            print(
                f"{pad}watch every {EVERY} steps: +{per_50 / epoch_s:.2%} per epoch "
                f"({math.ceil(steps / EVERY)} probes), plus the setup once"
            )
            print(
                f"{pad}memory over 50 probes: RSS {rss_first:.1f} -> {rss_last:.1f} MB "
                f"({rss_last - rss_first:+.1f} MB), process peak {peak:.1f} MB"
            )


if __name__ == "__main__":
    main()
