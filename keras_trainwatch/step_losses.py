"""Per-step training losses, kept on the device and read in batches."""

from __future__ import annotations

import keras

from keras_trainwatch import _keras_compat

READ_EVERY = 16


class StepLossReader:
    """Recovers each execution's own loss from Keras's running epoch mean.

    Keras logs the mean loss of the epoch so far (its loss tracker holds a
    `total` and a `count`); one execution's loss is the change in `total`
    over the change in `count`. Snapshots of the two variables stay on the
    device and are read `READ_EVERY` executions at a time (and at every
    probe and epoch end), so the watch adds one host read per 16 steps, not
    one per step.

    Example:

    ```python
    reader = StepLossReader()
    reader.start_epoch()
    reader.snapshot(model, step)          # after each execution
    for step, loss in reader.read():      # when needed
        ...
    ```
    """

    def __init__(self):
        self._pending: list = []
        self._steps: list[int] = []
        self.start_epoch()

    def start_epoch(self) -> None:
        """Keras resets its loss tracker at each epoch start."""
        self._pending.clear()
        self._steps.clear()
        self._last = (0.0, 0.0)

    def snapshot(self, model: keras.Model, step: int) -> bool:
        """Keeps the tracker's state after an execution ending at `step`.

        Returns:
            Whether enough snapshots are pending to read them now.
        """
        tracker = _keras_compat.loss_tracker(model)
        if tracker is None:
            return False
        self._pending.append(
            keras.ops.stack(
                [
                    keras.ops.cast(tracker.total, "float64"),
                    keras.ops.cast(tracker.count, "float64"),
                ]
            )
        )
        self._steps.append(step)
        return len(self._pending) >= READ_EVERY

    def read(self) -> list[tuple[int, float]]:
        """`(step, loss)` of every pending execution, oldest first (one
        host read)."""
        if not self._pending:
            return []
        values = keras.ops.convert_to_numpy(keras.ops.stack(self._pending))
        result = []
        total_before, count_before = self._last
        for step, (total, count) in zip(self._steps, values):
            if count > count_before:
                loss = (total - total_before) / (count - count_before)
                result.append((step, float(loss)))
            total_before, count_before = float(total), float(count)
        self._last = (total_before, count_before)
        self._pending.clear()
        self._steps.clear()
        return result
