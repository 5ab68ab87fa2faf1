"""The base-rate loss: what a model that ignores its inputs reaches on the
probe batch's targets."""

from __future__ import annotations

import math

import keras
import numpy as np

from keras_trainwatch.detectors.loss_kinds import (
    ABSOLUTE,
    BINARY,
    CATEGORICAL,
    SPARSE_CATEGORICAL,
    SQUARED,
    single_loss_and_targets,
)


def chance_loss(model: keras.Model, targets) -> float | None:
    """The loss of a model that predicts the base rate of `targets`,
    whatever its inputs: the entropy of the label frequencies for
    cross-entropy, the variance for squared error, the mean distance to the
    median for absolute error.

    The probe batch stands in for the training data, so the estimate errs
    high where it may be unrepresentative (a too-low estimate would call a
    healthy model's loss "no better than chance"): a classification batch
    missing some of the model's classes (sorted data) gets the uniform
    prediction's loss, log(classes), and a batch whose targets are all the
    same says nothing (`None`).

    Args:
        model: A compiled single-output Keras model.
        targets: The probe batch's targets.

    Returns:
        The base-rate loss, or `None` for other losses, several outputs,
        no targets or constant targets.
    """
    loss_and_targets = single_loss_and_targets(model, targets)
    if loss_and_targets is None:
        return None
    name, y = loss_and_targets
    if name in SPARSE_CATEGORICAL:
        _, counts = np.unique(y.astype(np.int64), return_counts=True)
        chance = _entropy(counts / counts.sum())
        classes = _output_units(model)
        if classes and len(counts) < classes:
            chance = math.log(classes)
    elif name in CATEGORICAL:
        y = y.reshape(len(y), -1)
        frequencies = y.mean(axis=0)
        chance = _entropy(frequencies)
        if np.count_nonzero(frequencies) < y.shape[1]:
            chance = math.log(y.shape[1])
    elif name in BINARY:
        p = y.reshape(len(y), -1).mean(axis=0)
        chance = float(np.mean([_entropy(np.array([q, 1 - q])) for q in p]))
    elif name in SQUARED:
        chance = float(np.mean(y.reshape(len(y), -1).var(axis=0)))
    elif name in ABSOLUTE:
        y = y.reshape(len(y), -1)
        chance = float(np.mean(np.abs(y - np.median(y, axis=0))))
    else:
        return None
    return chance if chance > 1e-6 else None


def _output_units(model) -> int | None:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _entropy(p) -> float:
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))
