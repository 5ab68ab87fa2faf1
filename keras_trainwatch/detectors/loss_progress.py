"""The rules on the loss's course over epochs: a loss that does not improve
beyond what predicting the base rate gives, and a loss that oscillates."""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import keras
import numpy as np

from keras_trainwatch._host import to_numpy
from keras_trainwatch._validation import integer_at_least
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.detectors.loss_kinds import (
    ABSOLUTE,
    BINARY,
    CATEGORICAL,
    SPARSE_CATEGORICAL,
    SQUARED,
    compiled_losses,
    loss_name_and_logits,
)
from keras_trainwatch.findings import (
    LOSS_NOT_IMPROVING,
    LOSS_OSCILLATING,
    Finding,
)
from keras_trainwatch.records import ProbeRecord

# Less than this relative improvement over `patience` epochs is none.
MIN_IMPROVEMENT = 0.01
# A loss within this share of the base-rate loss has learned nothing.
CHANCE_MARGIN = 0.05
# An epoch whose loss rises more than this (relative) is a swing up.
MIN_SWING = 0.05


class LossProgressDetector:
    """Judges the course of the training loss, one value per epoch (the
    `loss` that `fit` logs).

    Two findings, both about the loss (`layer=None`):

    - `loss_not_improving`: over the last `patience` epochs the loss
      improved by less than 1%, and it is still no better than 95% of the
      loss of a model that ignores its inputs and predicts the base rate
      (the label frequencies for cross-entropy, the mean for squared error,
      the median for absolute error; computed from the probe batch's
      targets). A model that learned something and then converged is not
      flagged; with an unknown loss, only a loss that never fell 1% below
      its first epoch's is.
    - `loss_oscillating`: over the last `patience` epochs the loss rose by
      more than 5% at least twice and fell at least twice, with no net
      improvement of 1%: the steps overshoot.

    Both need `patience` + 1 epochs, so a slow start is not judged early;
    a finding is resolved at the first probe after the loss moves on.

    Args:
        patience: Integer >= 2, default 5: epochs judged.
        chance: The base-rate loss, or `None` when unknown (see
            `chance_loss`).

    Example:

    ```python
    detector = LossProgressDetector(patience=5, chance=math.log(10))
    for loss in history.history["loss"]:
        detector.observe(loss)
    findings = detector(record, recent=[])
    ```
    """

    kind = LOSS_NOT_IMPROVING  # and LOSS_OSCILLATING
    history_size = 0

    def __init__(self, patience: int = 5, chance: float | None = None):
        self.patience = integer_at_least("patience", patience, 2)
        self.chance = chance
        self.reset()

    def reset(self) -> None:
        """Forgets the losses seen (a new run)."""
        self._losses: collections.deque[float] = collections.deque(
            maxlen=self.patience + 1
        )
        self._first: float | None = None
        self._best_before: float = math.inf

    def observe(self, loss: float | None) -> None:
        """Adds an epoch's training loss (non-finite values are left to the
        exploding-gradient rule)."""
        if loss is None or not math.isfinite(loss):
            return
        if len(self._losses) == self._losses.maxlen:
            self._best_before = min(self._best_before, self._losses[0])
        self._losses.append(float(loss))
        if self._first is None:
            self._first = float(loss)

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        losses = list(self._losses)
        if len(losses) <= self.patience:
            return []
        reference = min(self._best_before, losses[0])
        latest_best = min(losses[1:])
        improvement = (reference - latest_best) / abs(reference or 1.0)
        found = []
        if improvement < MIN_IMPROVEMENT and self._learned_nothing(latest_best):
            found.append(self._not_improving(record, losses, improvement))
        rises = sum(b > a * (1 + MIN_SWING) for a, b in zip(losses, losses[1:]))
        falls = sum(b < a for a, b in zip(losses, losses[1:]))
        if (
            rises >= 2
            and falls >= 2
            and losses[-1] > losses[0] * (1 - MIN_IMPROVEMENT)
        ):
            found.append(
                make_finding(
                    LOSS_OSCILLATING,
                    record,
                    None,
                    float(rises),
                    2.0,
                    f"The training loss oscillates: over the last "
                    f"{self.patience} epochs it rose by more than "
                    f"{MIN_SWING:.0%} {rises} times and fell {falls} times "
                    f"without improving ({_listed(losses)}).",
                )
            )
        return found

    def _learned_nothing(self, best: float) -> bool:
        if self.chance is None:
            return best > self._first * (1 - MIN_IMPROVEMENT)
        return best >= self.chance * (1 - CHANCE_MARGIN)

    def _not_improving(self, record, losses, improvement):
        if self.chance is None:
            level = f"no lower than in the first epoch ({self._first:.4g})"
        else:
            level = (
                f"as high as predicting the base rate without looking at the "
                f"inputs ({self.chance:.4g})"
            )
        return make_finding(
            LOSS_NOT_IMPROVING,
            record,
            None,
            improvement,
            MIN_IMPROVEMENT,
            f"The training loss is not improving: {_change(improvement)} "
            f"over the last {self.patience} epochs (under "
            f"{MIN_IMPROVEMENT:.0%}; {_listed(losses)}), and {level}: the "
            "model is learning nothing from its inputs.",
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
    flat = keras.tree.flatten(targets)
    losses = compiled_losses(model)
    if len(flat) != 1 or flat[0] is None or len(losses) != 1:
        return None
    name, _ = loss_name_and_logits(losses[0])
    y = to_numpy(flat[0]).astype(np.float64)
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


def _change(improvement: float) -> str:
    if improvement < 0:
        return f"{-improvement:.1%} worse"
    return f"{improvement:.1%} better"


def _listed(losses) -> str:
    return "losses " + ", ".join(f"{loss:.4g}" for loss in losses)
