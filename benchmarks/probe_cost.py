"""Time of one GradientWatch probe relative to one training step.

Both on the same batch size, for an MLP (784-256-256-10) and a small CNN
(28x28x1), on random data of MNIST's shape. Steps and probes are interleaved
and repeated; the medians and their ratio are printed.

    python benchmarks/probe_cost.py [--batch-size 128] [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_trainwatch as ktw  # noqa: E402


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
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def measure(build, batch_size, repeats):
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch((x, y))
    watch.set_model(model)
    model.train_on_batch(x, y)  # trace the training step
    watch.probe(0, 0)
    step_times, probe_times = [], []
    for i in range(repeats):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        step_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        watch.probe(0, i)
        probe_times.append(time.perf_counter() - start)
    return (
        statistics.median(step_times),
        statistics.median(probe_times),
        watch.probe.tracing_count,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(
        f"batch size {args.batch_size}, {args.repeats} interleaved repeats, medians"
    )
    print(
        f"{'model':<6}{'train step ms':>15}{'probe ms':>11}{'probe/step':>12}{'traces':>8}"
    )
    for name, build in [("mlp", mlp), ("cnn", cnn)]:
        step, probe, traces = measure(build, args.batch_size, args.repeats)
        print(
            f"{name:<6}{step * 1e3:>15.2f}{probe * 1e3:>11.2f}{probe / step:>12.2f}{traces:>8}"
        )


if __name__ == "__main__":
    main()
