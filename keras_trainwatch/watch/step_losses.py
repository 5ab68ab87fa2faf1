"""Per-step training losses, recovered from the logs Keras already
computes, kept on the device and read in batches."""

from __future__ import annotations

from collections.abc import Callable

import keras

from keras_trainwatch._host import to_numpy

StepLossListener = Callable[[list[tuple[int, float]]], None]

READ_EVERY = 16
# The first steps of a run are read one at a time: a rate that blows the
# loss up does it within them (the keras.io convnet at SGD 5.0: 2.3 -> 37
# in 10 steps), and waiting for 16 would let it do its damage unseen.
READ_EACH_BEFORE = 32


class StepLossReader:
    """Recovers each execution's own loss from Keras's running epoch mean.

    The train function returns the mean loss of the epoch so far (a tensor
    Keras has already computed); after `n` steps of the epoch, one execution
    that ran the steps from `n'` to `n` had the loss
    `(n * mean_n - n' * mean_n') / (n - n')`. Keeping those tensors costs no
    operation on the device; they are read `READ_EVERY` executions at a time
    (and at every probe and epoch end): one host read per 16 steps, after
    the first `READ_EACH_BEFORE` global steps, which are read one at a time.

    Keras averages over samples, this over steps: the two agree while the
    batches have one size. The last, smaller batch of an epoch comes out
    between its own loss and the epoch's mean, never above both. A rollback
    resets Keras's mean mid-epoch: `restart_mean` says so, and the mean
    counts from there.

    Args:
        read_each_before: The global steps up to which every execution is
            read at once (`None`, the default: `READ_EACH_BEFORE`; 0: none).

    Example:

    ```python
    reader = StepLossReader()
    reader.start_epoch()
    reader.snapshot(logs, step=120, epoch_steps=20)  # after each execution
    for step, loss in reader.read():                 # when needed
        ...
    ```
    """

    def __init__(self, read_each_before: int | None = None):
        self.read_each_before = read_each_before
        self._pending: list = []
        self._steps: list[tuple[int, int, bool]] = []
        self.start_epoch()

    def start_epoch(self) -> None:
        """Keras resets its loss mean at each epoch start."""
        self._pending.clear()
        self._steps.clear()
        self._last = (0, 0.0)
        self._mean_start = 0
        self._restarted = False

    def restart_mean(self, epoch_steps: int) -> None:
        """Keras's loss mean was reset after `epoch_steps` steps of the
        epoch (`model.reset_metrics()`, as after a rollback)."""
        self._mean_start = epoch_steps
        self._restarted = True

    @property
    def pending(self) -> bool:
        """Whether snapshots are waiting to be read."""
        return bool(self._pending)

    def snapshot(self, logs, step: int, epoch_steps: int) -> bool:
        """Keeps the epoch's mean loss after an execution.

        Args:
            logs: What the train function returned (a dict of tensors with
                `"loss"`; anything else is ignored).
            step: The global step the execution ended at.
            epoch_steps: Steps run in this epoch so far.

        Returns:
            Whether enough snapshots are pending to read them now.
        """
        loss = logs.get("loss") if isinstance(logs, dict) else None
        if loss is None:
            return False
        self._pending.append(loss)
        self._steps.append(
            (step, epoch_steps - self._mean_start, self._restarted)
        )
        self._restarted = False
        each_before = (
            READ_EACH_BEFORE
            if self.read_each_before is None
            else self.read_each_before
        )
        return step <= each_before or len(self._pending) >= READ_EVERY

    def read(self) -> list[tuple[int, float]]:
        """`(step, loss)` of every pending execution, oldest first (one
        host read)."""
        if not self._pending:
            return []
        means = to_numpy(keras.ops.stack(self._pending))
        result = []
        steps_before, mean_before = self._last
        for (step, steps_done, restarted), mean in zip(self._steps, means):
            mean = float(mean)
            if restarted:
                steps_before, mean_before = 0, 0.0
            if steps_done > steps_before:
                total = steps_done * mean - steps_before * mean_before
                result.append((step, total / (steps_done - steps_before)))
            steps_before, mean_before = steps_done, mean
        self._last = (steps_before, mean_before)
        self._pending.clear()
        self._steps.clear()
        return result
