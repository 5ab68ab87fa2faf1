"""The rules on the loss's course over epochs: a loss that does not move, a
loss that stays at what predicting the base rate gives for long enough to
matter in the planned run, and a loss that oscillates."""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Sequence

import numpy as np

from keras_trainwatch._validation import integer_at_least
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import (
    LOSS_NOT_IMPROVING,
    LOSS_OSCILLATING,
    Finding,
)
from keras_trainwatch.records import ProbeRecord

# A trend that takes the loss down by less than this share over the judged
# epochs is no progress, however steady (float noise on a frozen loss is
# "significant" against a noise of 0).
MIN_TREND = 0.01
# A downward trend this many standard errors from flat is one.
MIN_TREND_T = 3.0
# A loss whose epochs differ by less than this share of it does not move at
# all: the weights are not changing.
FROZEN_RANGE = 1e-5
# A loss within this share of the base-rate loss has learned nothing.
CHANCE_MARGIN = 0.05
# Less than this relative improvement since the first epoch is none.
MIN_IMPROVEMENT = 0.01
# A rise counts as a swing up when it exceeds this share of the largest loss
# of the judged epochs (relative to the loss before it, rises from a loss
# near 0 are all "large").
MIN_SWING = 0.05
# Swings are judged only while the loss is at least this share of its first
# epoch's: below it, a run has converged and its swings are noise around
# the minimum (a memorizing ResNet's 0.0006 -> 0.003).
MIN_LEVEL_OF_FIRST = 0.1
# A loss that stays at the base rate is judged as a slow start, not a
# failure, until it has lasted this share of the planned epochs.
SLOW_START_SHARE = 0.25


class LossProgressDetector:
    """Judges the course of the training loss, one value per epoch (the
    `loss` that `fit` logs).

    Two findings, both about the loss (`layer=None`):

    - `loss_not_improving`, in two forms:
        - the loss *does not move at all*: over the last `patience` + 1
          epochs it changed by less than 0.001% of its value and never fell
          1% below its first epoch's, whatever its level (a learning rate
          far too small, weights that do not change); at the base rate, only
          after `wait` epochs, as below (a saddle at initialization holds a
          slow start there);
        - the loss *stays at the base rate*: no downward trend (a
          least-squares line through the last `patience` + 1 epochs falling
          by at least 1% and 3 standard errors) for `wait` epochs, while
          it is no better than 95% of the loss of a model that ignores its
          inputs and predicts the base rate (the label frequencies for
          cross-entropy, the mean for squared error, the median for
          absolute error; computed from the probe batch's targets). `wait`
          is `patience` + 1 epochs, or a quarter of the planned epochs when
          that is longer (see `start_fit`): a loss at the base rate early in
          a long run is a slow start, and many runs that sit there for a
          tenth of their epochs go on to learn (`benchmarks/long_runs.py`).
          With an unknown base rate, the loss must also never have fallen 1%
          below its first epoch's.
    - `loss_oscillating`: over the last `patience` epochs the loss rose at
      least twice by more than 5% of the largest of those losses and fell
      at least twice, with no net improvement of 1%: the steps overshoot.
      In a run planned for more than 4 windows, the mean loss of the
      window must also not have improved by 1% over the last `wait` epochs
      less the window, so that swings on the way down are not reported.
      Not judged once the loss is under a tenth of its first epoch's:
      there the run has converged, and its swings are noise around the
      minimum.

    A finding is resolved at the first probe after the loss moves on.

    Args:
        patience: Integer >= 2, default 5: epochs judged at a time.
        chance: The base-rate loss, or `None` when unknown (see
            `chance_loss`).

    Attributes:
        stalled_epochs: Epochs, up to now, since the loss last showed a
            downward trend below the base rate (a loss that falls *to* the
            base rate learns the label frequencies, not the inputs).

    Example:

    ```python
    detector = LossProgressDetector(patience=5, chance=math.log(10))
    detector.start_fit(planned_epochs=100)
    for loss in history.history["loss"]:
        detector.observe(loss)
    findings = detector(record, recent=[])
    ```
    """

    kinds = (LOSS_NOT_IMPROVING, LOSS_OSCILLATING)

    def __init__(self, patience: int = 5, chance: float | None = None):
        self.patience = integer_at_least("patience", patience, 2)
        self.chance = chance
        self.planned_epochs: int | None = None
        self.reset()

    def reset(self) -> None:
        """Forgets the losses seen (a new run)."""
        self._losses: collections.deque[float] = collections.deque(
            maxlen=self.patience + 1
        )
        self._first: float | None = None
        self._best = math.inf
        self._window_means: collections.deque[float] = collections.deque()
        self._seen = 0
        self._last_trend = 0
        self.stalled_epochs = 0

    def start_fit(self, planned_epochs: int | None) -> None:
        """Sets the number of epochs the run plans (`fit`'s `epochs`), which
        sets how long a loss at the base rate may stay a slow start."""
        self.planned_epochs = planned_epochs

    @property
    def wait(self) -> int:
        """Epochs without a downward trend after which a loss at the base
        rate is reported."""
        window = self.patience + 1
        if not self.planned_epochs:
            return window
        return max(window, math.ceil(SLOW_START_SHARE * self.planned_epochs))

    def observe(self, loss: float | None) -> None:
        """Adds an epoch's training loss (non-finite values are left to the
        exploding-gradient rule)."""
        if loss is None or not math.isfinite(loss):
            return
        loss = float(loss)
        self._losses.append(loss)
        self._seen += 1
        self._best = min(self._best, loss)
        if self._first is None:
            self._first = loss
        if len(self._losses) == self._losses.maxlen:
            if self._learning():
                self._last_trend = self._seen
            self._keep_window_mean()
        self.stalled_epochs = self._seen - self._last_trend

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        losses = list(self._losses)
        if len(losses) <= self.patience:
            return []
        found = []
        stalled = self.stalled_at_base_rate >= self.wait
        # At the base rate a loss that hardly moves may be a slow start (a
        # saddle at initialization): it waits like any stall there.
        if (
            self._never_improved()
            and _frozen(losses)
            and (stalled or not self._at_base_rate())
        ):
            found.append(self._frozen(record, losses))
        elif stalled:
            found.append(self._stalled(record, losses))
        oscillating = self._oscillation(record, losses)
        return found + oscillating

    @property
    def _lag(self) -> int:
        """How many epochs back a long run's swings are compared over."""
        return self.wait - (self.patience + 1)

    def _keep_window_mean(self) -> None:
        if self._window_means.maxlen != self._lag + 1:
            self._window_means = collections.deque(
                self._window_means, maxlen=self._lag + 1
            )
        self._window_means.append(math.fsum(self._losses) / len(self._losses))

    def _smoothed_loss_improved(self) -> bool:
        """Whether the mean loss of the window improved by 1% over the last
        `wait` - window epochs (or cannot be judged yet)."""
        means = self._window_means
        if self._lag <= 0:
            return False
        if len(means) <= self._lag:
            return True
        return means[-1] < means[0] - MIN_IMPROVEMENT * abs(means[0])

    def _learning(self) -> bool:
        """A downward trend, and (with a known base rate) a loss below it:
        a loss that falls *to* the base rate learns the label frequencies,
        not anything from the inputs."""
        below = self.chance is None or self._losses[-1] < self.chance
        return below and _falling(self._losses)

    @property
    def stalled_at_base_rate(self) -> int:
        """`stalled_epochs` while the loss is at the base rate, else 0: the
        value the rule compares with `wait`."""
        if not self._losses or not self._at_base_rate():
            return 0
        return self.stalled_epochs

    def _never_improved(self) -> bool:
        return self._best > self._first - MIN_IMPROVEMENT * abs(self._first)

    def _at_base_rate(self) -> bool:
        if self.chance is None:
            return self._never_improved()
        return self._losses[-1] >= self.chance * (1 - CHANCE_MARGIN)

    def _frozen(self, record, losses):
        spread = (max(losses) - min(losses)) / abs(losses[-1] or 1.0)
        return make_finding(
            LOSS_NOT_IMPROVING,
            record,
            None,
            spread,
            FROZEN_RANGE,
            f"The training loss does not move at all: over the last "
            f"{len(losses)} epochs it changed by {spread:.1e} of its value "
            f"(under {FROZEN_RANGE:g}; {_listed(losses)}) and never fell "
            f"{MIN_IMPROVEMENT:.0%} below its first epoch's "
            f"({self._first:.4g}): the weights are not changing.",
            measure="loss range over its value",
        )

    def _stalled(self, record, losses):
        if self.chance is None:
            level = f"no lower than in the first epoch ({self._first:.4g})"
        else:
            level = (
                f"at the loss of predicting the base rate without looking at "
                f"the inputs ({self.chance:.4g})"
            )
        planned = self.planned_epochs
        share = (
            f" of the {planned} planned"
            if planned and self._seen <= planned
            else ""
        )
        if planned and self.stalled_epochs < planned / 2:
            verdict = (
                "the model has not started learning from its inputs yet (a "
                "slow start that has now cost "
                f"{self.stalled_epochs / planned:.0%} of the run)"
            )
        else:
            verdict = "the model is learning nothing from its inputs"
        return make_finding(
            LOSS_NOT_IMPROVING,
            record,
            None,
            float(self.stalled_epochs),
            float(self.wait),
            f"The training loss is not improving: {self.stalled_epochs}"
            f"{share} epochs without a downward trend (flagged from "
            f"{self.wait}; {_listed(losses)}), {level}: {verdict}.",
            measure="epochs without a downward trend",
        )

    def _oscillation(self, record, losses):
        if max(losses) < MIN_LEVEL_OF_FIRST * abs(self._first):
            return []
        # In a long run, swings around a loss that keeps falling on average
        # are a loss on its way down: the window's mean must not improve
        # for a quarter of the run.
        if self._smoothed_loss_improved():
            return []
        swing = MIN_SWING * max(losses)
        rises = sum(b - a > swing for a, b in itertools.pairwise(losses))
        falls = sum(b < a for a, b in itertools.pairwise(losses))
        if (
            rises < 2
            or falls < 2
            or losses[-1] <= losses[0] - MIN_IMPROVEMENT * abs(losses[0])
        ):
            return []
        return [
            make_finding(
                LOSS_OSCILLATING,
                record,
                None,
                float(rises),
                2.0,
                f"The training loss oscillates: over the last "
                f"{self.patience} epochs it rose {rises} times by more than "
                f"{MIN_SWING:.0%} of its largest value and fell {falls} times "
                f"without improving ({_listed(losses)}).",
                measure="rises in the window",
            )
        ]


def _falling(losses) -> bool:
    """Whether a least-squares line through `losses` falls by at least
    `MIN_TREND` of their mean and `MIN_TREND_T` standard errors."""
    y = np.asarray(losses, dtype=np.float64)
    t = np.arange(len(y), dtype=np.float64)
    t -= t.mean()
    slope = float(np.dot(t, y - y.mean()) / np.dot(t, t))
    drop = -slope * (len(y) - 1)
    if drop < MIN_TREND * abs(float(y.mean())):
        return False
    residual = y - y.mean() - slope * t
    dof = len(y) - 2
    error = math.sqrt(float(np.dot(residual, residual)) / dof / np.dot(t, t))
    return error == 0 or -slope / error >= MIN_TREND_T


def _frozen(losses) -> bool:
    """Whether `losses` differ by less than `FROZEN_RANGE` of their level."""
    return max(losses) - min(losses) < FROZEN_RANGE * abs(losses[-1] or 1.0)


def _listed(losses) -> str:
    return "losses " + ", ".join(f"{loss:.4g}" for loss in losses)
