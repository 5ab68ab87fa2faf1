"""Every training step's loss for the reducer, read from the device in
batches rather than one host read per step."""

from __future__ import annotations

import keras

from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.watch import GradientWatch
from keras_trainwatch.watch.schedule import ProbeSchedule
from keras_trainwatch.watch.step_losses import StepLossListener, StepLossReader


class StepLossFeed:
    """Hands `listener` the `(step, loss)` pairs of every training step, in
    batches: the watch's own reads when the reducer has a watch (one host
    read serves both), else a reader of its own that reads every
    `READ_EVERY` steps and when asked (`read_now`).

    Args:
        watch: The reducer's `GradientWatch`, or `None`.
        listener: Called with the pairs of each read, oldest first.

    Example:

    ```python
    feed = StepLossFeed(watch=None, listener=check_losses)
    feed.start_fit(model, step=0)   # on_train_begin
    feed.start_epoch(model, params) # on_epoch_begin
    feed.read_now()                 # before a save, at the epoch's end
    feed.mean_restarted()           # after model.reset_metrics()
    feed.stop(model)                # on_train_end
    ```
    """

    def __init__(self, watch: GradientWatch | None, listener: StepLossListener):
        self._watch = watch
        self._listener = listener
        self._schedule = ProbeSchedule()
        # Only non-finite losses matter here, which wait for the next read
        # at no cost: the rollback snapshot predates them.
        self._reader = StepLossReader(read_each_before=0)
        self._hook = TrainStepHook(self._after_execution)
        if watch is not None:
            watch.subscribe_step_losses(listener)

    def start_fit(self, step: int) -> None:
        """A `fit` starts with the optimizer at `step`."""
        self._schedule.start_fit(step)

    def start_epoch(self, model: keras.Model, params: dict | None) -> None:
        """An epoch starts: the step count and Keras's loss mean restart."""
        if self._watch is not None:
            return
        self._schedule.start_epoch(
            (params or {}).get("steps"),
            getattr(model, "steps_per_execution", 1) or 1,
        )
        self._reader.start_epoch()
        self._hook.install(model)

    def _after_execution(self, logs) -> None:
        self._schedule.after_execution()
        if self._reader.snapshot(
            logs, self._schedule.step, self._schedule.epoch_steps
        ):
            self.read_now()

    def read_now(self) -> None:
        """Reads the pending losses (one host read) and hands them over."""
        if self._watch is not None:
            self._watch.read_step_losses()
        elif self._reader.pending:
            self._listener(self._reader.read())

    def mean_restarted(self) -> None:
        """Keras's running loss mean was reset within the epoch."""
        if self._watch is not None:
            self._watch.loss_mean_restarted()
        else:
            self._reader.restart_mean(self._schedule.epoch_steps)

    def stop(self, model: keras.Model) -> None:
        """Ends the `fit`: unwraps the train function."""
        self._hook.remove(model)

    def __deepcopy__(self, memo):
        twin = deepcopy_without(self, memo, unbound=("_hook",))
        twin._hook = TrainStepHook(twin._after_execution)
        return twin
