"""Small generated tasks and the independent oracle the benchmarks score
runs with: data the package does not need to ship, each with a held-out
split drawn from the same distribution.

A run is judged on the held-out split, never by the watch: accuracy against
the majority class's share (chance) for classification, explained variance
(R^2, chance 0) for regression.
"""

from __future__ import annotations

import dataclasses

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: training and held-out data, and how it is scored.

    Args:
        name: Short name for tables.
        x, y: Training inputs and targets.
        x_test, y_test: Held-out inputs and targets.
        classes: Number of classes, or 0 for regression.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def chance(self) -> float:
        """The held-out score of a model that ignores its inputs."""
        if not self.classes:
            return 0.0
        _, counts = np.unique(self.y_test, return_counts=True)
        return float(counts.max() / counts.sum())

    def score(self, model: keras.Model) -> float:
        """Held-out accuracy (classification) or R^2 (regression); a
        prediction that is not finite scores -inf."""
        prediction = np.asarray(
            model.predict(self.x_test, verbose=0, batch_size=512)
        )
        if not np.all(np.isfinite(prediction)):
            return -np.inf
        if not self.classes:
            residual = np.mean(
                (prediction.reshape(self.y_test.shape) - self.y_test) ** 2
            )
            return float(1.0 - residual / np.var(self.y_test))
        if prediction.shape[-1] == 1:
            labels = (prediction[:, 0] > 0.5).astype(int)
        else:
            labels = np.argmax(prediction, -1)
        return float(np.mean(labels == self.y_test))


def _split(name, x, y, classes, n_train):
    return Task(
        name, x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes
    )


def _standardize(x):
    return ((x - x.mean(0)) / x.std(0)).astype("float32")


def moons(seed=0, *, n=512, noise=0.2, scale=1.0, flip=0.0) -> Task:
    """Two interleaved half circles (binary). `scale` multiplies the
    standardized inputs; `flip` is the share of training labels flipped."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    t = rng.uniform(0, np.pi, total)
    label = rng.integers(0, 2, total)
    x = np.where(
        label[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    x = x + rng.normal(scale=noise, size=x.shape)
    task = _split("moons", _standardize(x) * scale, label.astype("int32"), 2, n)
    return _flipped(task, flip, rng)


def circles(seed=0, *, n=512, noise=0.1, scale=1.0) -> Task:
    """Two concentric rings (binary)."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    label = rng.integers(0, 2, total)
    radius = np.where(label == 0, 1.0, 2.0)
    angle = rng.uniform(0, 2 * np.pi, total)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    x = x + rng.normal(scale=noise * 2, size=x.shape)
    return _split(
        "circles", _standardize(x) * scale, label.astype("int32"), 2, n
    )


def spirals(seed=0, *, n=768, arms=3, noise=0.15, scale=1.0) -> Task:
    """`arms` interleaved spirals (`arms` classes)."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    label = rng.integers(0, arms, total)
    r = rng.uniform(0.1, 1.0, total)
    theta = 2 * np.pi * label / arms + 3.0 * r
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    x = x + rng.normal(scale=noise * 0.3, size=x.shape)
    return _split(
        "spirals", _standardize(x) * scale, label.astype("int32"), arms, n
    )


def blobs(
    seed=0, *, n=512, classes=4, features=8, spread=2.0, scale=1.0
) -> Task:
    """Gaussian blobs (`classes` classes) in `features` dimensions."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    centers = rng.normal(size=(classes, features))
    label = rng.integers(0, classes, total)
    x = centers[label] + rng.normal(scale=spread / 2, size=(total, features))
    return _split(
        "blobs", _standardize(x) * scale, label.astype("int32"), classes, n
    )


def regression(seed=0, *, n=512, features=8, shift=0.0, noise=0.3) -> Task:
    """A smooth regression with standardized targets plus `shift` (so that
    `shift=0` gives half-negative targets, `shift=3` nearly all positive)."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    x = rng.normal(size=(total, features))
    w = rng.normal(size=features)
    signal = x @ w + np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2]
    y = signal / signal.std() + noise * rng.normal(size=total) + shift
    return _split("regression", x.astype("float32"), y.astype("float32"), 0, n)


def sequences(seed=0, *, n=512, steps=20) -> Task:
    """Binary labels from the sign of the sum of a sequence's first five
    values (the rest is noise): a recurrent net must carry them."""
    rng = np.random.default_rng(seed)
    total = 2 * n
    x = rng.normal(size=(total, steps, 1)).astype("float32")
    label = (x[:, :5, 0].sum(1) > 0).astype("int32")
    return _split("sequences", x, label, 2, n)


def _flipped(task, flip, rng):
    if not flip:
        return task
    y = task.y.copy()
    chosen = rng.random(len(y)) < flip
    y[chosen] = 1 - y[chosen]
    return dataclasses.replace(task, y=y)


def one_hot(y, classes):
    """`y` as float32 one-hot rows."""
    return np.eye(classes, dtype="float32")[y]
