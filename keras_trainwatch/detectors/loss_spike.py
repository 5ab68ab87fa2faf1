"""The spike rule: a training loss (or a probe's gradient norm) far above
its recent range."""

from __future__ import annotations

import collections
import math

from keras_trainwatch._validation import open_range, positive_int
from keras_trainwatch.findings import LOSS_SPIKE, Finding

# Before `warmup` values there is no spread to judge against: two values in a
# row this many times the largest of the first ones are a jump all the same
# (a rate that blows up in the first steps).
EARLY_JUMP = 10.0
# How many of the first values make the reference of an early jump.
EARLY_REFERENCE = 3
# A step this many times the largest of the window is a spike at once; a
# smaller one above the limit must be confirmed by the next step (single
# batches of a noisy run reach 6 deviations: benchmarks/long_runs.py).
EXTREME_JUMP = 10.0
# A spike rises above the recent mean by at least this share of the first
# values' mean (a memorizing net near a loss of 0 wobbles from 0.002 to 0.06
# and learns on: benchmarks/long_runs.py).
MIN_RISE_OF_START = 0.2


# What a spike's value measures, by the rule that spoke.
Z_MEASURE = "standard deviations above the mean"
JUMP_MEASURE = "times the first steps' largest"


class SpikeDetector:
    """Flags a value that jumps far above its recent range.

    The rule of OLMo-core's loss-spike detection: after `warmup` values, a
    value whose z-score against the last `window` values exceeds `max_z` is
    a spike. Only upward jumps count, and a spike is kept out of the window
    so that it does not widen the range that the next values are judged
    against. The state is the window itself: bounded, however long the run.

    A spike must also rise above the mean by at least 20% of the first
    values' mean: near a loss of 0 the spread is tiny, and a wobble from
    0.002 to 0.06 in a net that goes on learning is many deviations. And a
    lone step above the limit is a spike only when the next step is above
    it too (it is reported then, with its own step) or when it is 10 times
    the largest value of the window: with small batches, one batch of hard
    samples reaches 6 deviations in a run that learns well.

    Before `warmup` values, two steps in a row above 10 times the largest
    of the first (two or three) are a spike too, and so is one step 100
    times above them: a loss that blows up in its first steps is not missed
    for want of history (and one batch of a fine-tuned model, whose first
    losses are near 0, is not a blow-up). A blow-up at the second step
    (RMSprop at 0.3: 3.3 then 1e9) would make itself the reference: with
    the first value alone as reference, two steps in a row 100 times above
    it are a spike.

    Args:
        quantity: What the values are, for the message (`"training loss"`,
            `"global gradient norm"`).
        max_z: Positive float, default 6 (OLMo-core's); the largest z of
            healthy runs is printed by the benchmarks
            (docs/benchmarks/long_runs.md).
        window: Integer >= 2, default 128 (OLMo-core's).
        warmup: Integer >= 2, default 32: values seen before judging by
            the z-score.

    Attributes:
        largest_z: The largest z-score judged since `reset` (the benchmarks
            print it next to `max_z`).

    Example:

    ```python
    detector = SpikeDetector("training loss")
    for step, loss in enumerate(losses):
        findings = detector.update(epoch=0, step=step, value=loss)
    ```
    """

    kinds = (LOSS_SPIKE,)

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
        self._first: list[float] = []
        self._pending: tuple | None = None
        self.largest_z = -math.inf

    def update(self, epoch: int, step: int, value: float) -> list[Finding]:
        """Judges one value, then adds it to the window unless it spiked.

        Returns:
            `[Finding]` for a spike (a lone step above the limit is reported
            when the next step confirms it, with its own step), else `[]`.
            A non-finite value is left to the exploding-gradient rule and
            the reducer's NaN check.
        """
        if not math.isfinite(value):
            return []
        found = self._early_jump(epoch, step, value)
        if not found and len(self._values) >= self.warmup:
            found = self._judged(epoch, step, value)
        if found or self._pending is not None:
            return found
        if len(self._first) < EARLY_REFERENCE:
            self._first.append(value)
        self._values.append(value)
        return []

    def _judged(self, epoch, step, value):
        """The z-score rule."""
        mean = math.fsum(self._values) / len(self._values)
        variance = math.fsum((v - mean) ** 2 for v in self._values) / len(
            self._values
        )
        # A floor on the spread: a loss that has been flat to the last
        # digit must still jump by a visible amount to count.
        spread = max(math.sqrt(variance), 1e-3 * abs(mean), 1e-12)
        z = (value - mean) / spread
        # Near a loss of 0 the spread is tiny and any wobble is many
        # deviations: a spike must also rise by a share of where the loss
        # started.
        start = math.fsum(self._first) / len(self._first)
        if value - mean < MIN_RISE_OF_START * abs(start):
            z = min(z, self.max_z)
        self.largest_z = max(self.largest_z, z)
        if z <= self.max_z:
            self._release()
            return []
        count = len(self._values)

        def describe(v):
            return (
                f"the {self.quantity} {v:.4g} is {(v - mean) / spread:.1f} "
                f"standard deviations above its mean over the last {count} "
                f"steps ({mean:.4g}; flagged above {self.max_z:g})"
            )

        extreme = value >= EXTREME_JUMP * max(self._values)
        return self._candidate(
            epoch, step, value, (z, Z_MEASURE), self.max_z, describe, extreme
        )

    def _early_jump(self, epoch, step, value):
        """The rule before `warmup` values: 10 times the largest of the
        first (two or three) values, at two steps in a row, or 100 times at
        one; 100 times the first value at two steps in a row."""
        if not self._first or len(self._values) >= self.warmup:
            return []
        reference = max(self._first)
        alone = len(self._first) == 1
        limit = EARLY_JUMP * (EXTREME_JUMP if alone else 1.0)
        if reference <= 0 or value <= limit * reference:
            self._release()
            return []
        count = len(self._first)

        def describe(v):
            return (
                f"the {self.quantity} {v:.4g} is {v / reference:.0f} times "
                f"{_first_steps(count)} ({reference:.4g}; flagged above "
                f"{limit:g} times before {self.warmup} steps of history)"
            )

        jump = value / reference
        extreme = not alone and jump >= EXTREME_JUMP * EARLY_JUMP
        return self._candidate(
            epoch,
            step,
            value,
            (jump, JUMP_MEASURE),
            limit,
            describe,
            extreme,
        )

    def _candidate(
        self, epoch, step, value, measure, threshold, describe, extreme
    ):
        """A value past the limit: a spike with the pending value before it
        (reported at that value's step), or at once when `extreme`; else it
        waits for the next step to confirm it."""
        pending, self._pending = self._pending, None
        if pending is not None:
            first_epoch, first_step, first_value, first_measure = pending
            return [
                self._spike(
                    first_epoch,
                    first_step,
                    first_measure,
                    threshold,
                    f"{describe(first_value)}, and at the next step "
                    f"{value:.4g}",
                )
            ]
        if extreme:
            return [
                self._spike(epoch, step, measure, threshold, describe(value))
            ]
        self._pending = (epoch, step, value, measure)
        return []

    def _release(self):
        """A pending value the next step did not confirm: a lone batch far
        out, the noise of small batches, and part of the range the next
        values are judged against."""
        if self._pending is not None:
            self._values.append(self._pending[2])
            self._pending = None

    def _spike(self, epoch, step, measured, threshold, evidence):
        value, measure = measured
        return Finding(
            measure=measure,
            kind=LOSS_SPIKE,
            layer=None,
            epoch=epoch,
            step=step,
            value=value,
            threshold=threshold,
            message=f"Loss spike at step {step}: {evidence}.",
        )


def _first_steps(count: int) -> str:
    return (
        "its first step's"
        if count == 1
        else f"the largest of its first {count} steps"
    )
