"""The spike rule: a training loss (or a probe's gradient norm) far above
its recent range."""

from __future__ import annotations

import collections
import math

from keras_trainwatch._validation import open_range, positive_int
from keras_trainwatch.findings import LOSS_SPIKE, Finding


class SpikeDetector:
    """Flags a value that jumps far above its recent range.

    The rule of OLMo-core's loss-spike detection: after `warmup` values, a
    value whose z-score against the last `window` values exceeds `max_z` is
    a spike. Only upward jumps count, and a spike is kept out of the window
    so that it does not widen the range that the next values are judged
    against. The state is the window itself: bounded, however long the run.

    Args:
        quantity: What the values are, for the message (`"training loss"`,
            `"global gradient norm"`).
        max_z: Positive float, default 6 (OLMo-core's). Over the healthy
            runs of the pathology suite and the real-model benchmark the
            largest z of the training loss stayed far below it (see
            README, "Loss spikes").
        window: Integer >= 2, default 128 (OLMo-core's).
        warmup: Integer >= 2, default 32: values seen before judging.

    Example:

    ```python
    detector = SpikeDetector("training loss")
    for step, loss in enumerate(losses):
        findings = detector.update(epoch=0, step=step, value=loss)
    ```
    """

    kind = LOSS_SPIKE

    def __init__(
        self,
        quantity: str,
        max_z: float = 6.0,
        window: int = 128,
        warmup: int = 32,
    ):
        self.quantity = quantity
        self.max_z = open_range("max_z", max_z, 0.0, math.inf)
        self.window = positive_int("window", window)
        self.warmup = positive_int("warmup", warmup)
        self.reset()

    def reset(self) -> None:
        """Forgets the recent values (a new run)."""
        self._values: collections.deque[float] = collections.deque(
            maxlen=self.window
        )

    def update(self, epoch: int, step: int, value: float) -> list[Finding]:
        """Judges one value, then adds it to the window unless it spiked.

        Returns:
            `[Finding]` for a spike, else `[]`. A non-finite value is left
            to the exploding-gradient rule and the reducer's NaN check.
        """
        if not math.isfinite(value):
            return []
        if len(self._values) >= self.warmup:
            mean = math.fsum(self._values) / len(self._values)
            variance = math.fsum((v - mean) ** 2 for v in self._values) / len(
                self._values
            )
            # A floor on the spread: a loss that has been flat to the last
            # digit must still jump by a visible amount to count.
            spread = max(math.sqrt(variance), 1e-3 * abs(mean), 1e-12)
            z = (value - mean) / spread
            if z > self.max_z:
                return [
                    Finding(
                        kind=self.kind,
                        layer=None,
                        epoch=epoch,
                        step=step,
                        value=z,
                        threshold=self.max_z,
                        message=(
                            f"Loss spike at step {step}: the {self.quantity} "
                            f"{value:.4g} is {z:.1f} standard deviations above "
                            f"its mean over the last {len(self._values)} steps "
                            f"({mean:.4g}; flagged above {self.max_z:g})."
                        ),
                    )
                ]
        self._values.append(value)
        return []
