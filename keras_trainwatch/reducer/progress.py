"""Whether the loss is falling at the rate in effect: then a finding is not
a reason to lower it."""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Iterable

from keras_trainwatch.watch.step_losses import READ_EVERY

# After a reduction, the loss counts as brought down by it while the mean of
# the latest steps stays below this share of the mean before it. RMSprop at
# 0.3 on the rescue benchmark's regression fell from 1e9 to 1e5 after its
# first reduction and was lowered again and again for the spikes and dying
# units in its wake.
FALLING_SHARE = 0.5


class LossProgress:
    """The latest per-step training losses, asked two questions: did the
    last reduction bring the loss down (`answered`), and is the loss falling
    at all (`falling`)?

    Args:
        window: The number of step losses each judgement compares.

    Example:

    ```python
    progress = LossProgress()
    progress.observe([(1, 2.3), (2, 2.2)])  # each read of step losses
    progress.falling()   # None until 2 * window losses are in
    progress.reduced()   # a reduction: the level to fall from
    progress.answered()  # below half that level since?
    ```
    """

    def __init__(self, window: int = READ_EVERY):
        self.window = window
        self._latest: collections.deque[float] = collections.deque(
            maxlen=2 * window
        )
        self._since_reduction: collections.deque[float] = collections.deque(
            maxlen=window
        )
        self._before_reduction: float | None = None

    def reset(self) -> None:
        """Forgets the losses (a new `fit`, or a rollback: what came before
        it was undone)."""
        self._latest.clear()
        self._since_reduction.clear()
        self._before_reduction = None

    def observe(self, step_losses: Iterable[tuple[int, float]]) -> None:
        """Takes the finite losses among `(step, loss)` pairs."""
        finite = [loss for _, loss in step_losses if math.isfinite(loss)]
        self._latest.extend(finite)
        self._since_reduction.extend(finite)

    def reduced(self) -> None:
        """A reduction now: the recent level is the one to fall from, and
        whether the loss falls is judged afresh, at the new rate."""
        self._before_reduction = _mean(self._since_reduction)
        self._since_reduction.clear()
        self._latest.clear()

    def answered(self) -> bool:
        """Whether the loss since the last reduction is below
        `FALLING_SHARE` of its level before it (`False` when either is
        unknown)."""
        now = _mean(self._since_reduction)
        return (
            now is not None
            and self._before_reduction is not None
            and now < FALLING_SHARE * self._before_reduction
        )

    def falling(self, min_delta: float = 0.0) -> bool | None:
        """Whether the median of the latest `window` losses is more than
        `min_delta` below the median of the `window` before them (`None`
        until both are in, counted since the last reduction). Medians,
        because single steps jump (a hard batch, a spike)."""
        if len(self._latest) < 2 * self.window:
            return None
        losses = list(self._latest)
        earlier = statistics.median(losses[: self.window])
        return statistics.median(losses[self.window :]) < earlier - min_delta


def _mean(values) -> float | None:
    return math.fsum(values) / len(values) if values else None
