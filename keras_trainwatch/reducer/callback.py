"""AutoLRReducer: lower the learning rate when gradients explode, ReLUs die,
or the monitored metric plateaus."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._validation import (
    all_among,
    bool_or_auto,
    finite_real,
    instance_of,
    integer_at_least,
    one_of,
    optional_path,
    real_in_range,
)
from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.findings import (
    DEAD_RELU,
    EXPLODING_GRADIENTS,
    KINDS,
    LOSS_OSCILLATING,
    LOSS_SPIKE,
    FindingKind,
)
from keras_trainwatch.learning_rate import (
    Reduction,
    handles_of,
    optimizer_step,
    optimizers_of,
    prepare_schedules,
)
from keras_trainwatch.reducer.announce import ReductionAnnouncer
from keras_trainwatch.reducer.divergence import (
    Rescue,
    TrainingDivergedError,
    is_finite,
)
from keras_trainwatch.reducer.plateau import (
    PLATEAU_REASON,
    PlateauCounter,
    plateau_attribute,
)
from keras_trainwatch.reducer.progress import LossProgress
from keras_trainwatch.reducer.rates import rates_into_logs, reduce_rates
from keras_trainwatch.reducer.reactions import (
    FindingReactions,
    reason_for,
    unrecoverable,
)
from keras_trainwatch.reducer.rollback import AUTO_ROLLBACK_MAX_BYTES, Rollback
from keras_trainwatch.reducer.save_guard import SaveGuard, weights_finite
from keras_trainwatch.reducer.state_file import (
    ReducerStateFile,
    reducer_state,
    restore_reducer_state,
)
from keras_trainwatch.reducer.step_loss_feed import StepLossFeed
from keras_trainwatch.watch import GradientWatch, WatchUpdate, writes_summaries
from keras_trainwatch.watch.on_finding import (
    PROGRESS_LINE,
    drawing_progress_bar,
)

LOGGER = logging.getLogger("keras_trainwatch")


class AutoLRReducer(keras.callbacks.Callback):
    """Lowers the learning rate on a plateau, and at once when a
    `GradientWatch` finds exploding gradients or dying ReLUs.

    A drop-in replacement for `keras.callbacks.ReduceLROnPlateau` (same
    arguments, semantics, state and message; see docs/auto_lr_reducer.md),
    that also reacts to a `GradientWatch`'s findings at the probe's step,
    never lets a non-finite loss pass (it rolls back to the last healthy
    state, or raises `TrainingDivergedError`),
    scales a `LearningRateSchedule`, handles several optimizers and mixed
    precision, and resumes after an interruption with `backup_dir`.

    Example:

    ```python
    watch = keras_trainwatch.GradientWatch((x[:64], y[:64]), every_n_steps=50)
    reducer = keras_trainwatch.AutoLRReducer(
        monitor="val_loss", factor=0.5, patience=3, watch=watch
    )
    model.fit(x, y, validation_split=0.1, callbacks=[watch, reducer])
    print(reducer.reductions)
    ```

    Args:
        monitor: Metric to watch for a plateau (default `"val_loss"`), or
            `None` to react to findings and rollbacks only.
        factor: Float in (0, 1), default 0.1. `new_lr = lr * factor`.
        patience: Integer >= 0, default 10. Epochs without improvement
            before a plateau reduction.
        verbose: 0 (default): announce each reduction on the
            `keras_trainwatch` logger; 1: print it as `ReduceLROnPlateau`
            does instead.
        mode: `"auto"` (default), `"min"` or `"max"`, as in
            `ReduceLROnPlateau`.
        min_delta: Minimum change that counts as an improvement (default
            1e-4).
        cooldown: Integer >= 0, default 0. Epochs to wait after a reduction
            before counting patience or reacting to findings again.
        min_lr: Float >= 0, default 0. The rate is never lowered below it.
        watch: Optional `GradientWatch` whose new findings of the kinds in
            `react_to` lower the rate (see `react_to`).
        react_to: Finding kinds that trigger a reduction (default
            `("exploding_gradients", "dead_relu", "loss_spike",
            "loss_oscillating")`; with rollback a loss spike rolls back to
            the last healthy state, skipping the batches since). Dead ReLU
            units lower the rate while they spread (more dead than when
            first found) and the loss is seen not falling (the median of the
            latest 16 step losses not `min_delta` below that of the 16
            before): else the living units carry the run.
        rollback: `"auto"` (default), `True` or `False`. With rollback, a
            non-finite loss (read from the device every 16 steps, at each
            probe and epoch end, and before any save of the model),
            non-finite weights before a save, a non-finite-gradient finding,
            a loss spike, or a layer the watch finds beyond repair (most of
            its units dead, no gradient) restores the last healthy weights
            and optimizer state (taken at the fit's start and at each
            healthy epoch end), lowers the rate and resets the epoch's
            metrics. Without it, the same non-finite failure raises
            `TrainingDivergedError` when it is read, with how to rescue the
            run. `"auto"` rolls back when the snapshot fits: on disk with a
            `rollback_dir`, in memory up to 1 GiB of weights and optimizer
            state (it says so on the `keras_trainwatch` logger when not);
            see `rolls_back`.
        max_rollbacks: Integer >= 1, default 3. After this many rollbacks in
            one `fit`, the next failure restores the healthy weights and
            stops training with an error message.
        rollback_dir: Optional directory to keep the healthy snapshot on disk
            (for models too big to copy in memory); in memory by default.
        backup_dir: Optional directory where the reducer's state is saved at
            every epoch end and from which it is restored when a `fit`
            starts after an interruption. Use the `backup_dir` of
            `keras.callbacks.BackupAndRestore`. Deleted when `fit` ends
            normally. Under a multi-worker strategy only the chief writes it
            (on storage every worker reads).

    Attributes:
        reductions: List of `Reduction`s, in order.
        rollbacks: Number of rollbacks in the current `fit`.
        rolls_back: Whether the current `fit` can roll back.
        best, wait, cooldown_counter: The plateau state, as in
            `ReduceLROnPlateau` (readable and settable; reset at each
            `fit`).
    """

    def __init__(
        self,
        monitor: str | None = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        *,
        watch: GradientWatch | None = None,
        react_to: Iterable[str] = (
            EXPLODING_GRADIENTS,
            DEAD_RELU,
            LOSS_SPIKE,
            LOSS_OSCILLATING,
        ),
        rollback: bool | str = "auto",
        max_rollbacks: int = 3,
        rollback_dir: str | os.PathLike | None = None,
        backup_dir: str | os.PathLike | None = None,
    ):
        super().__init__()
        self.factor = real_in_range(
            "factor", factor, 0.0, 1.0, low_open=True, high_open=True
        )
        self.patience = integer_at_least("patience", patience, 0)
        self.cooldown = integer_at_least("cooldown", cooldown, 0)
        self.min_lr = real_in_range(
            "min_lr", min_lr, 0.0, math.inf, high_open=True
        )
        self.min_delta = abs(finite_real("min_delta", min_delta))
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.monitor = instance_of(
            "monitor", monitor, str, "the name of a metric in logs, or None"
        )
        self.verbose = one_of("verbose", verbose, (0, 1))
        self.watch = instance_of(
            "watch",
            watch,
            GradientWatch,
            "a keras_trainwatch.GradientWatch or None",
        )
        self.react_to = all_among("react_to", react_to, KINDS)
        self.rollback = bool_or_auto("rollback", rollback)
        self.max_rollbacks = integer_at_least("max_rollbacks", max_rollbacks, 1)
        self.rollback_dir = optional_path("rollback_dir", rollback_dir)
        self.backup_dir = optional_path("backup_dir", backup_dir)
        self.reductions: list[Reduction] = []
        self._reactions = FindingReactions(self.react_to)
        self._progress = LossProgress()
        self._reacted_at: int | None = None
        self._rollback = Rollback(self.max_rollbacks, self.rollback_dir)
        self._rescue = Rescue(None)
        self._announce = ReductionAnnouncer(
            self.verbose, lambda: drawing_progress_bar(self.params)
        )
        self._state_file = (
            None
            if self.backup_dir is None
            else ReducerStateFile(self.backup_dir)
        )
        self._epoch = 0
        self._damaged = False
        self._start_step = 0
        self._plateau = PlateauCounter(
            self.mode, self.min_delta, self.patience, self.cooldown
        )
        # Each step's loss, read in batches (never in a batch callback,
        # which would make Keras convert the logs of every step and give up
        # dispatching them asynchronously).
        self._losses = StepLossFeed(watch, self._check_losses)
        self._save_guard = SaveGuard(self._before_save)
        if watch is not None:
            watch.subscribe(self._on_watch_update)

    # --- plateau state, as ReduceLROnPlateau exposes it -------------------

    best = plateau_attribute("best", "The best monitored value so far.")
    wait = plateau_attribute("wait", "Epochs without improvement so far.")
    cooldown_counter = plateau_attribute(
        "cooldown_counter", "Epochs of cooldown left."
    )

    def in_cooldown(self) -> bool:
        """Whether a recent reduction still holds further ones back."""
        return self._plateau.in_cooldown()

    @property
    def rolls_back(self) -> bool:
        """Whether the current (or last) `fit` keeps a healthy state to roll
        back to: `rollback=True`, or `"auto"` with a snapshot that fits."""
        return self._rescue.rollback is not None

    def _decide_rollback(self) -> bool:
        """Decides `rollback="auto"` for this fit's model, saying so when
        the snapshot is too large to keep in memory."""
        if self.rollback != "auto":
            return self.rollback
        fits, size = self._rollback.fits_automatically(self.model)
        if not fits:
            LOGGER.info(
                "AutoLRReducer: rollback is off for this fit: a healthy "
                "snapshot of the weights and optimizer state would hold "
                '%.1f GiB in memory (rollback="auto" keeps up to %.0f GiB). '
                "Pass rollback_dir=... to keep it on disk, or rollback=True "
                "to keep it in memory; without it, a non-finite loss stops "
                "training with TrainingDivergedError.",
                size / 2**30,
                AUTO_ROLLBACK_MAX_BYTES / 2**30,
            )
        return fits

    @property
    def rollbacks(self) -> int:
        """Rollbacks in the current `fit`."""
        return self._rollback.count

    # --- training lifecycle ------------------------------------------------

    def on_train_begin(self, logs=None):
        PROGRESS_LINE.reset()
        if self.watch is not None and self.watch.model is not self.model:
            raise ValueError(
                "Invalid value received for argument `watch`. Expected a "
                "GradientWatch that is among the callbacks of this fit "
                "(fit(..., callbacks=[watch, reducer])). Received: a "
                "GradientWatch that does not watch this model, so that no "
                "finding would reach the reducer."
            )
        self._plateau.reset()
        self._reactions.reset()
        self._progress.reset()
        self._reacted_at = None
        self._damaged = False
        self._start_step = self._current_step() or 0
        self._losses.start_fit(self._start_step)
        prepare_schedules(self.model)
        self._restore_state()
        self._rescue.rollback = (
            self._rollback if self._decide_rollback() else None
        )
        if self.rolls_back:
            self._rollback.start(self.model)
        self._save_guard.install(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._losses.start_epoch(self.model, self.params)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        # Before the healthy snapshot below (and any other callback's
        # epoch-end save, which the save guard covers whatever the order).
        self._losses.read_now()
        rates_into_logs(self._handles(), logs)
        current = None if self.monitor is None else logs.get(self.monitor)
        if self.monitor is not None and current is None:
            LOGGER.warning(
                "AutoLRReducer: learning rate reduction is conditioned on "
                "metric `%s` which is not available. Available metrics are: %s.",
                self.monitor,
                ",".join(logs.keys()),
            )
        elif current is not None:
            self._count_plateau(epoch, float(current))
        else:
            # No metric to watch: cooldown still counts epochs.
            self._plateau.tick_cooldown()
        self._announce.write_rates(self._handles(), self._current_step())
        # A state the watch found damaged is no state to come back to.
        if (
            self.rolls_back
            and is_finite(logs.get("loss"))
            and not self._damaged
        ):
            self._rollback.checkpoint()
        self._save_state()

    def on_train_end(self, logs=None):
        # Reached only when fit ends normally: an interrupted run keeps its
        # state file for the next fit to resume from.
        self._losses.stop(self.model)
        self._save_guard.remove(self.model)
        if self._state_file is not None:
            self._state_file.delete()
        self._rollback.finish()
        self._announce.writer = None

    def _count_plateau(self, epoch, current):
        self._plateau.resolve_mode(self.model, self.monitor)
        if self._plateau.update(current):
            self._reduce(
                epoch,
                self._current_step(),
                f"{PLATEAU_REASON} {self.monitor} for {self.wait} epochs",
            )

    # --- findings and rollbacks --------------------------------------------

    def _on_watch_update(self, update: WatchUpdate) -> None:
        self._announce.writer = update.writer
        record = update.record
        if record is not None and not record.all_finite:
            self._non_finite(
                f"non-finite loss or gradients at step {update.step}"
            )
            return
        if record is not None:
            # Judged at probes: a spike check between them says nothing of
            # the layers.
            self._damaged = bool(unrecoverable(update.present))
        if self._roll_back_from_damage(update):
            return
        relevant = self._reactions.due(update.present, self._rollback.last_step)
        spikes = [f for f in relevant if f.kind == LOSS_SPIKE]
        if spikes and self.rolls_back:
            # Back to the last healthy state: the batches since, the one
            # that caused the spike among them, are skipped.
            self._roll_back(f"a loss spike at step {spikes[0].last_step}")
            self._reactions.acted_on(relevant)
            return
        if not relevant or self.in_cooldown() or self._progress.answered():
            # While the loss falls since the last reduction, the rate in
            # effect is working, and what the watch finds is the wake of the
            # trouble already answered.
            return
        if all(f.kind == DEAD_RELU for f in relevant) and not (
            any(_spreading(f) for f in relevant)
            and self._progress.falling(self.min_delta) is False
        ):
            # Dead units stay dead at a lower rate, which only spares the
            # living ones: worth it while units go on dying and the loss
            # has stopped falling. Else the living units carry the run and
            # a lower rate only slows them (benchmarks/rescue_digits.py
            # --seeds: an MLP under Adam at 0.05 loses 60% of a layer in 5
            # steps and still learns; lowered at once, it ended 0.09-0.35
            # below its unwatched twin in 4 of 5 seeds).
            return
        if update.step == self._reacted_at:
            # One event, one reduction: the probe that follows a spike at
            # once shows what the jump did to the layers (exploding
            # gradients, dying units), which the spike's reduction answered.
            self._reactions.acted_on(relevant)
            return
        reason = reason_for(relevant, update.step)
        if self._reduce(self._epoch, update.step, reason):
            self._reactions.acted_on(relevant)
            self._reacted_at = update.step

    def _roll_back_from_damage(self, update: WatchUpdate) -> bool:
        """With `rollback`, returns to the last healthy state when the
        weights cannot train on (most units of a layer dead, no gradient):
        a lower rate alone leaves them as they are."""
        # Damage the run started with (a layer dead at initialization) is in
        # every snapshot too: no rollback can undo it.
        damage = [
            f
            for f in unrecoverable(update.present, self._rollback.last_step)
            if f.episode_step > self._start_step
        ]
        if not self.rolls_back or not damage:
            return False
        first = damage[0]
        self._roll_back(
            f"{FindingKind(first.kind).title} in {first.where} "
            f"({first.last_value:.0%}), which a lower rate cannot revive"
        )
        return True

    def _check_losses(self, step_losses):
        """Reacts to the first non-finite loss among `(step, loss)` pairs
        that no rollback has undone yet."""
        self._progress.observe(step_losses)
        undone_until = self._rollback.last_step
        for step, loss in step_losses:
            if not is_finite(loss) and (
                undone_until is None or step > undone_until
            ):
                self._non_finite(f"non-finite loss at step {step}")
                return

    def _before_save(self):
        """Nothing non-finite is saved: pending losses are read first, and
        the weights themselves checked (an update can overflow them while
        the step's loss, computed before it, is finite)."""
        self._losses.read_now()
        if not weights_finite(self.model):
            self._non_finite(
                f"non-finite weights at step {self._current_step()}, found "
                "before saving the model"
            )

    def _non_finite(self, cause):
        try:
            self._after_rescue(self._rescue.non_finite, cause)
        except TrainingDivergedError:
            # The error ends fit without on_train_end: the model is given
            # its own train function and saving methods back here.
            self._losses.stop(self.model)
            self._save_guard.remove(self.model)
            raise

    def _roll_back(self, cause):
        self._after_rescue(self._rescue.roll_back, cause)

    def _after_rescue(self, rescue, cause):
        step = self._current_step()
        reason = rescue(self.model, self._handles(), step, cause)
        if reason is not None:
            # The rollback reset the epoch's metrics, Keras's loss mean
            # among them, and undid the losses since the healthy state.
            self._losses.mean_restarted()
            self._progress.reset()
            # A rollback must lower the rate it restored, cooldown or not.
            self._reduce(self._epoch, step, reason, force=True)

    # --- reducing ------------------------------------------------------------

    def _reduce(self, epoch, step, reason, force=False):
        """Lowers every optimizer's rate. `force` ignores cooldown (a
        rollback must lower the rate it restored)."""
        if self.in_cooldown() and not force:
            return False
        handles = self._handles()
        reduced = reduce_rates(
            handles, self.factor, self.min_lr, epoch, step, reason
        )
        for reduction in reduced:
            self._announce(reduction, several=len(handles) > 1)
        if reduced:
            self._announce.write_rates(handles, step)
            self._plateau.reduced()
            self._progress.reduced()
        self.reductions.extend(reduced)
        return bool(reduced)

    def _handles(self):
        return handles_of(self.model)

    def _current_step(self) -> int | None:
        optimizers = optimizers_of(self.model)
        return optimizer_step(optimizers[0]) if optimizers else None

    # --- state that survives an interruption ------------------------------

    def state(self) -> dict:
        """The reducer's resumable state, as plain JSON-able values."""
        return reducer_state(self, self._handles())

    def _save_state(self):
        if self._state_file is not None and writes_summaries(self.model):
            self._state_file.save(self.state())

    def _restore_state(self):
        state = None if self._state_file is None else self._state_file.load()
        if state is not None:
            restore_reducer_state(self, self._handles(), state)

    def __deepcopy__(self, memo):
        return deepcopy_without(
            self, memo, unbound=(_keras_compat.CALLBACK_MODEL_ATTRIBUTE,)
        )


def _spreading(finding) -> bool:
    """Whether more of the layer's units are dead now than when the finding
    was first made."""
    return (
        finding.value is not None
        and finding.last_value is not None
        and finding.last_value > finding.value
    )
