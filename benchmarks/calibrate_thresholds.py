"""The measurements behind the detectors' default thresholds.

Trains healthy and broken networks for a few epochs, probing before training
and after each epoch, and prints for each the extreme values the detectors
look at over the run:

- min ratio: the smallest relative gradient |g|/|w| of a layer divided by the
  largest one above it (vanishing gradients: < 1e-3 with |g|/|w| < 1e-4);
- max |g|: the largest per-layer gradient norm (exploding: > 1e3);
- max growth: the largest growth of a layer's gradient norm over the previous
  probes (exploding: >= 100x once the norm is >= 10);
- max dead: the largest share of dead units in a ReLU layer (dead: >= 0.5).

    python benchmarks/calibrate_thresholds.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers as L  # noqa: E402

from keras_trainwatch.datasets import load_digits  # noqa: E402
from keras_trainwatch.probe import GradientProbe  # noqa: E402
from keras_trainwatch.probe_data import ProbeBatch  # noqa: E402

CE = "sparse_categorical_crossentropy"


def mlp(
    depth,
    activation,
    init="he_normal",
    bias=0.0,
    inputs=64,
    outputs=10,
    bn=False,
    drop=0.0,
):
    model = keras.Sequential([keras.Input((inputs,))])
    for _ in range(depth):
        model.add(
            L.Dense(
                64,
                activation=None if bn else activation,
                kernel_initializer=init,
                bias_initializer=keras.initializers.Constant(bias),
            )
        )
        if bn:
            model.add(L.BatchNormalization())
            model.add(L.Activation(activation))
        if drop:
            model.add(L.Dropout(drop))
    model.add(L.Dense(outputs, activation="softmax" if outputs > 1 else None))
    return model


def cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(
                16,
                3,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
            ),
            L.Conv2D(16, 3, activation="relu", kernel_initializer="he_normal"),
            L.Flatten(),
            L.Dense(10, activation="softmax"),
        ]
    )


def regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0)
    return x, ((y - y.mean()) / y.std()).astype("float32")


DIGITS = load_digits()
IMAGES = load_digits(flatten=False)
REGRESSION = regression()
CASES = {
    # name: (label, build, optimizer, data, loss)
    "relu_mlp_adam": (
        "healthy",
        lambda: mlp(4, "relu"),
        lambda: keras.optimizers.Adam(1e-3),
        DIGITS,
        CE,
    ),
    "relu_mlp_sgd": (
        "healthy",
        lambda: mlp(4, "relu"),
        lambda: keras.optimizers.SGD(1e-2),
        DIGITS,
        CE,
    ),
    "deep_relu_mlp": (
        "healthy",
        lambda: mlp(10, "relu"),
        lambda: keras.optimizers.Adam(1e-3),
        DIGITS,
        CE,
    ),
    "bn_dropout": (
        "healthy",
        lambda: mlp(4, "relu", bn=True, drop=0.3),
        lambda: keras.optimizers.Adam(1e-3),
        DIGITS,
        CE,
    ),
    "shallow_tanh": (
        "healthy",
        lambda: mlp(2, "tanh", "glorot_uniform"),
        lambda: keras.optimizers.Adam(1e-3),
        DIGITS,
        CE,
    ),
    "regression": (
        "healthy",
        lambda: mlp(3, "relu", inputs=16, outputs=1),
        lambda: keras.optimizers.Adam(1e-3),
        REGRESSION,
        "mse",
    ),
    "cnn": ("healthy", cnn, lambda: keras.optimizers.Adam(1e-3), IMAGES, CE),
    "sigmoid_10": (
        "vanishing",
        lambda: mlp(10, "sigmoid", "glorot_uniform"),
        lambda: keras.optimizers.SGD(5e-2),
        DIGITS,
        CE,
    ),
    "init_stddev_3": (
        "exploding",
        lambda: mlp(4, "relu", keras.initializers.RandomNormal(stddev=3.0)),
        lambda: keras.optimizers.SGD(1e-2),
        DIGITS,
        CE,
    ),
    "bias_minus_3": (
        "dead",
        lambda: mlp(3, "relu", bias=-3.0),
        lambda: keras.optimizers.Adam(1e-3),
        DIGITS,
        CE,
    ),
    "adam_lr_0.5": (
        "dead",
        lambda: mlp(3, "relu", inputs=16, outputs=1),
        lambda: keras.optimizers.Adam(0.5),
        REGRESSION,
        "mse",
    ),
}


def extremes(records):
    min_ratio, max_norm, max_growth, max_dead = math.inf, 0.0, 0.0, 0.0
    for i, record in enumerate(records):
        rel = [layer.relative_grad for layer in record.layers]
        for depth in range(len(rel) - 1):
            above = [r for r in rel[depth + 1 :] if math.isfinite(r)]
            if above and rel[depth] > 0 and max(above) > 0:
                min_ratio = min(min_ratio, rel[depth] / max(above))
        for layer in record.layers:
            if math.isfinite(layer.grad_norm):
                max_norm = max(max_norm, layer.grad_norm)
                earlier = [
                    r.layer(layer.name).grad_norm
                    for r in records[max(0, i - 5) : i]
                ]
                earlier = [n for n in earlier if math.isfinite(n) and n > 0]
                if earlier:
                    max_growth = max(max_growth, layer.grad_norm / min(earlier))
        max_dead = max(max_dead, record.max_dead_fraction)
    return min_ratio, max_norm, max_growth, max_dead


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'case':<16}{'label':<11}{'min ratio':>11}{'max |g|':>10}{'max growth':>12}{'max dead':>10}"
    )
    for name, (label, build, optimizer, (x, y), loss) in CASES.items():
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer(), loss)
        probe = GradientProbe(model, ProbeBatch.from_data((x[:256], y[:256])))
        records = [probe(0, 0)]
        for epoch in range(args.epochs):
            model.fit(x, y, epochs=1, batch_size=32, verbose=0)
            records.append(probe(epoch, epoch + 1))
        ratio, norm, growth, dead = extremes(records)
        print(
            f"{name:<16}{label:<11}{ratio:>11.1e}{norm:>10.3g}{growth:>12.3g}{dead:>10.2f}"
        )


if __name__ == "__main__":
    main()
