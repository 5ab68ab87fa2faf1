"""Whether the rate in effect is bringing the loss down: then a finding is
not a reason to lower it again."""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable

from keras_trainwatch.watch.step_losses import READ_EVERY

# The loss counts as falling when the mean of the latest steps is below this
# share of the mean before the last reduction. RMSprop at 0.3 on the rescue
# benchmark's regression fell from 1e9 to 1e5 after its first reduction and
# was lowered twice more for dead units spreading in its wake: it ended at
# 2032 against 2.74 without the reducer.
FALLING_SHARE = 0.5


class LossProgress:
    """The per-step training losses since the last reduction, against their
    level before it (the mean of the last `window` steps).

    Example:

    ```python
    progress = LossProgress()
    progress.observe([(1, 2.3), (2, 2.2)])  # each read of step losses
    progress.reduced()                      # a reduction: the level before
    progress.falling()                      # below half that level since?
    ```
    """

    def __init__(self, window: int = READ_EVERY):
        self._recent: collections.deque[float] = collections.deque(
            maxlen=window
        )
        self._before: float | None = None

    def reset(self) -> None:
        """Forgets the losses (a new `fit`, or a rollback: what came before
        it was undone)."""
        self._recent.clear()
        self._before = None

    def observe(self, step_losses: Iterable[tuple[int, float]]) -> None:
        """Takes the finite losses among `(step, loss)` pairs."""
        self._recent.extend(
            loss for _, loss in step_losses if math.isfinite(loss)
        )

    def reduced(self) -> None:
        """A reduction now: the recent level is the one to fall from, and
        the losses from now on are judged against it."""
        self._before = self._level()
        self._recent.clear()

    def falling(self) -> bool:
        """Whether the loss since the last reduction is below
        `FALLING_SHARE` of its level before it (`False` when either is
        unknown)."""
        now = self._level()
        return (
            now is not None
            and self._before is not None
            and now < FALLING_SHARE * self._before
        )

    def _level(self) -> float | None:
        if not self._recent:
            return None
        return math.fsum(self._recent) / len(self._recent)
