"""AutoLRReducer: lower the learning rate when gradients explode, ReLUs die,
or the monitored metric plateaus."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
import os
from collections.abc import Iterable, Sequence

import keras
from keras.src.utils import io_utils

from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.findings import (
    DEAD_RELU,
    EXPLODING_GRADIENTS,
    KINDS,
    Finding,
)
from keras_trainwatch.learning_rate import LearningRateHandle, optimizers_of
from keras_trainwatch.rollback import HealthySnapshot
from keras_trainwatch.watch import GradientWatch, writes_summaries

LOGGER = logging.getLogger("keras_trainwatch")

STATE_FILE = "auto_lr_reducer.json"
LOG_PREFIX = "auto_lr/"


@dataclasses.dataclass(frozen=True)
class Reduction:
    """One learning-rate reduction.

    Args:
        epoch: 0-based epoch.
        step: Global training step (when known; -1 otherwise).
        optimizer: The optimizer's name.
        old_lr: Rate before.
        new_lr: Rate after.
        reason: Why, e.g. `"exploding gradients in layer dense_3"`.
    """

    epoch: int
    step: int
    optimizer: str
    old_lr: float
    new_lr: float
    reason: str


class AutoLRReducer(keras.callbacks.ReduceLROnPlateau):
    """Lowers the learning rate on a plateau, and at once when a
    `GradientWatch` finds exploding gradients or dying ReLUs.

    A lower learning rate is the known remedy for exploding gradients and
    for dying ReLU units. For the arguments it shares with
    `keras.callbacks.ReduceLROnPlateau` this callback is a drop-in
    replacement with the same semantics (patience, cooldown, `min_lr`,
    `mode="auto"`, `logs["learning_rate"]` holding the rate before the
    epoch's reduction, the same verbose message). It also:

    - reacts to a `GradientWatch`'s new findings immediately, at the step
      they are found, respecting `cooldown` and `min_lr`;
    - optionally rolls back to the last healthy weights when the loss or the
      gradients turn non-finite, lowers the rate and carries on;
    - works with a `LearningRateSchedule` (scaled, keeping its shape), mixed
      precision, several optimizers and `steps_per_execution > 1`;
    - keeps its state across an interrupted run when given a `backup_dir`
      (the one of `keras.callbacks.BackupAndRestore`);
    - rejects unknown and out-of-range arguments.

    Example:

    ```python
    watch = keras_trainwatch.GradientWatch((x[:256], y[:256]), every_n_steps=50)
    reducer = keras_trainwatch.AutoLRReducer(
        monitor="val_loss", factor=0.5, patience=3, watch=watch, rollback=True
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
        verbose: 0 (default) or 1: print a message at each reduction.
        mode: `"auto"` (default), `"min"` or `"max"`, as in
            `ReduceLROnPlateau`.
        min_delta: Minimum change that counts as an improvement (default
            1e-4).
        cooldown: Integer >= 0, default 0. Epochs to wait after a reduction
            before counting patience or reacting to findings again.
        min_lr: Float >= 0, default 0. The rate is never lowered below it.
        watch: Optional `GradientWatch` whose new findings of the kinds in
            `react_to` lower the rate at once.
        react_to: Finding kinds that trigger a reduction (default
            `("exploding_gradients", "dead_relu")`).
        rollback: If `True`, a non-finite loss (checked after every step) or
            a non-finite-gradient finding restores the last healthy weights
            and optimizer state, lowers the rate and resets the epoch's
            metrics. Default `False`.
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
        react_to: Iterable[str] = (EXPLODING_GRADIENTS, DEAD_RELU),
        rollback: bool = False,
        max_rollbacks: int = 3,
        rollback_dir: str | os.PathLike | None = None,
        backup_dir: str | os.PathLike | None = None,
    ):
        _check_number(
            "factor", factor, "a float in (0, 1)", lambda v: 0 < v < 1
        )
        _check_int("patience", patience, minimum=0)
        _check_int("cooldown", cooldown, minimum=0)
        _check_int("max_rollbacks", max_rollbacks, minimum=1)
        _check_number("min_lr", min_lr, "a float >= 0", lambda v: v >= 0)
        _check_number("min_delta", min_delta, "a finite float", math.isfinite)
        if mode not in ("auto", "min", "max"):
            raise ValueError(
                "Invalid value received for argument `mode`. Expected one of "
                f"'auto', 'min', 'max'. Received: mode={mode!r}"
            )
        if watch is not None and not isinstance(watch, GradientWatch):
            raise TypeError(
                "Argument `watch` must be a keras_trainwatch.GradientWatch or "
                f"None. Received: watch of type {type(watch).__name__}"
            )
        react_to = tuple(react_to)
        unknown = [kind for kind in react_to if kind not in KINDS]
        if unknown:
            raise ValueError(
                "Invalid value received for argument `react_to`. Expected "
                f"finding kinds among {KINDS}. Received: react_to={react_to!r}"
            )
        super().__init__(
            monitor=monitor or "val_loss",
            factor=factor,
            patience=patience,
            verbose=verbose,
            mode=mode,
            min_delta=min_delta,
            cooldown=cooldown,
            min_lr=min_lr,
        )
        self.monitor = monitor
        self.watch = watch
        self.react_to = react_to
        self.rollback = bool(rollback)
        self.max_rollbacks = int(max_rollbacks)
        self.rollback_dir = (
            None if rollback_dir is None else os.fspath(rollback_dir)
        )
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self.reductions: list[Reduction] = []
        self.rollbacks = 0
        self._rolled_back_at = None
        self._epoch = 0
        self._snapshot: HealthySnapshot | None = None
        if watch is not None:
            watch.subscribe(self._on_findings)
        if self.rollback:
            # Checking the loss after every step needs a batch hook; define
            # it only then, so that Keras keeps dispatching batch callbacks
            # asynchronously otherwise.
            self.on_train_batch_end = self._check_loss

    # --- training lifecycle ------------------------------------------------

    def on_train_begin(self, logs=None):
        self._reset()
        self.rollbacks = 0
        retrace = False
        for optimizer in optimizers_of(self.model):
            retrace |= LearningRateHandle(optimizer).prepare()
        if retrace and getattr(self.model, "train_function", None) is not None:
            # The training step was traced with the unwrapped schedule.
            self.model.make_train_function(force=True)
        self._restore_state()
        if self.rollback:
            self._snapshot = HealthySnapshot(self.model, self.rollback_dir)
            self._snapshot.take()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        handles = self._handles()
        rates = {handle.name: handle.value() for handle in handles}
        if len(handles) == 1:
            logs["learning_rate"] = next(iter(rates.values()))
        else:
            for name, rate in rates.items():
                logs[f"learning_rate_{name}"] = rate
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
        elif self.in_cooldown():
            # No metric to watch: cooldown still counts epochs.
            self.cooldown_counter -= 1
        logs[f"{LOG_PREFIX}reductions"] = float(len(self.reductions))
        logs[f"{LOG_PREFIX}rollbacks"] = float(self.rollbacks)
        self._write_learning_rates(self._current_step())
        if self.rollback and _finite(logs.get("loss")):
            self._snapshot.take()
        self._save_state()

    def on_train_end(self, logs=None):
        # Reached only when fit ends normally: an interrupted run keeps its
        # state file for the next fit to resume from.
        if self.backup_dir is not None:
            path = os.path.join(self.backup_dir, STATE_FILE)
            if os.path.exists(path):
                os.remove(path)
        if self._snapshot is not None:
            self._snapshot.discard()
            self._snapshot = None

    # --- plateau -----------------------------------------------------------

    def _count_plateau(self, epoch, current):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(
                    epoch,
                    self._current_step(),
                    f"no improvement of {self.monitor} for {self.wait} epochs",
                )

    # --- findings and rollbacks --------------------------------------------

    def _on_findings(self, findings: Sequence[Finding], record) -> None:
        if self.rollback and not record.all_finite:
            self._roll_back(
                f"non-finite loss or gradients at step {record.step}"
            )
            return
        relevant = [f for f in findings if f.kind in self.react_to]
        if not relevant or self.in_cooldown():
            return
        first = relevant[0]
        reason = f"{first.kind.replace('_', ' ')} in layer {first.layer}"
        if len(relevant) > 1:
            reason += f" (and {len(relevant) - 1} more finding(s))"
        self._reduce(self._epoch, record.step, reason)

    def _check_loss(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        # The watch may have rolled back at this very step already (its
        # probe runs first): these logs predate that rollback.
        if (
            loss is not None
            and not _finite(loss)
            and self._current_step() != self._rolled_back_at
        ):
            self._roll_back(f"non-finite loss {loss} at batch {batch}")

    def _roll_back(self, cause):
        if self.rollbacks >= self.max_rollbacks:
            self._snapshot.restore()
            LOGGER.error(
                "AutoLRReducer: giving up after %d rollbacks: %s. The last "
                "healthy weights are restored and training is stopped.",
                self.rollbacks,
                cause,
            )
            self.model.stop_training = True
            return
        self.rollbacks += 1
        step = self._current_step()
        self._rolled_back_at = step
        # The snapshot holds older learning-rate variables: keep the current
        # rates, which the reduction below then lowers.
        handles = self._handles()
        rates = [(h, h.value()) for h in handles if not h.is_schedule]
        self._snapshot.restore()
        for handle, rate in rates:
            handle.set(rate)
        self.model.reset_metrics()
        self._reduce(
            self._epoch,
            step,
            f"rollback {self.rollbacks} after {cause}",
            force=True,
        )

    # --- reducing ------------------------------------------------------------

    def _reduce(self, epoch, step, reason, force=False):
        """Lowers every optimizer's rate. `force` ignores cooldown (a
        rollback must lower the rate it restored)."""
        if self.in_cooldown() and not force:
            return False
        reduced = []
        for handle in self._handles():
            result = handle.reduce(self.factor, self.min_lr)
            if result is not None:
                old, new = result
                reduced.append(
                    Reduction(epoch, step, handle.name, old, new, reason)
                )
        for reduction in reduced:
            self._announce(reduction, several=len(self._handles()) > 1)
        self.reductions.extend(reduced)
        if reduced:
            self.cooldown_counter = self.cooldown
            self.wait = 0
        return bool(reduced)

    def _announce(self, reduction, several):
        name = f" {reduction.optimizer}" if several else ""
        LOGGER.warning(
            "AutoLRReducer: reduced%s learning rate to %s: %s.",
            name,
            reduction.new_lr,
            reduction.reason,
        )
        if self.verbose > 0:
            io_utils.print_msg(
                f"\nEpoch {reduction.epoch + 1}: AutoLRReducer reducing{name} "
                f"learning rate to {reduction.new_lr}."
            )
        writer = self._summary_writer()
        if writer is not None:
            step = reduction.step
            writer.write_text(
                "learning_rate/reductions",
                f"epoch {reduction.epoch}, step {step}: {name.strip() or 'learning rate'} "
                f"{reduction.old_lr:g} -> {reduction.new_lr:g} ({reduction.reason})",
                step,
            )
            self._write_learning_rates(step)

    def _handles(self):
        optimizers = optimizers_of(self.model)
        # A custom train_step may leave the compiled optimizer unused (a
        # GAN's own optimizers do the work): once training has built some
        # optimizers, only those count.
        built = [o for o in optimizers if o.built]
        return [LearningRateHandle(o) for o in built or optimizers]

    # --- TensorBoard ---------------------------------------------------------

    def _summary_writer(self):
        return None if self.watch is None else self.watch.summary_writer

    def _current_step(self):
        optimizers = optimizers_of(self.model)
        if optimizers:
            return int(keras.ops.convert_to_numpy(optimizers[0].iterations))
        return -1 if self.watch is None else self.watch.step

    def _write_learning_rates(self, step):
        writer = self._summary_writer()
        if writer is None or step < 0:
            return
        for handle in self._handles():
            writer.write_scalar(
                f"learning_rate/{handle.name}", handle.value(), step
            )

    # --- state that survives an interruption ------------------------------

    def state(self) -> dict:
        """The reducer's resumable state, as plain JSON-able values."""
        return {
            "best": self.best,
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "learning_rates": {h.name: h.value() for h in self._handles()},
            "schedule_scales": {
                h.name: h.schedule_scale for h in self._handles()
            },
            "reductions": [dataclasses.asdict(r) for r in self.reductions],
        }

    def _save_state(self):
        if self.backup_dir is None or not writes_summaries(self.model):
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        path = os.path.join(self.backup_dir, STATE_FILE)
        with open(path + ".tmp", "w") as file:
            json.dump(self.state(), file)
        os.replace(path + ".tmp", path)

    def _restore_state(self):
        if self.backup_dir is None:
            return
        path = os.path.join(self.backup_dir, STATE_FILE)
        if not os.path.exists(path):
            return
        with open(path) as file:
            state = json.load(file)
        self.best = state["best"]
        self.wait = state["wait"]
        self.cooldown_counter = state["cooldown_counter"]
        self.reductions = [Reduction(**r) for r in state["reductions"]]
        for handle in self._handles():
            if handle.name in state["schedule_scales"]:
                handle.set_schedule_scale(state["schedule_scales"][handle.name])
            if (
                not handle.is_schedule
                and handle.name in state["learning_rates"]
            ):
                handle.set(state["learning_rates"][handle.name])

    # --- copying -------------------------------------------------------------

    def __deepcopy__(self, memo):
        return deepcopy_without(self, memo, unbound=("_model", "_snapshot"))


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def _check_number(name, value, allowed, ok):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not ok(value)
    ):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected "
            f"{allowed}. Received: {name}={value!r}"
        )


def _check_int(name, value, minimum):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected an "
            f"integer >= {minimum}. Received: {name}={value!r}"
        )
