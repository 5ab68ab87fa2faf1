"""GradientWatch: the callback that probes gradients while `model.fit` runs.

It coordinates: when to probe (`schedule.py`, the step hook), the probe
itself (`probing.py`), the rules (`detectors/`), the findings of the run
(`ledger.py`), and who is told (`on_finding.py`, `summaries.py`, the
subscribers).
"""

from __future__ import annotations

import os
from typing import Any

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._validation import (
    one_of,
    optional_path,
    optional_positive_int,
)
from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.detectors.suite import DetectorSuite
from keras_trainwatch.findings import Finding
from keras_trainwatch.learning_rate import optimizer_step
from keras_trainwatch.probe import GradientProbe, ProbeBatch
from keras_trainwatch.probe.backends import check_backend
from keras_trainwatch.records import ProbeRecord, recovered
from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter
from keras_trainwatch.watch.ledger import FindingLedger, LedgerUpdate
from keras_trainwatch.watch.logs_summary import LOGS_MODES, summary_logs
from keras_trainwatch.watch.on_finding import (
    PROGRESS_LINE,
    OnFinding,
    check_on_finding,
)
from keras_trainwatch.watch.probing import ProbeRunner
from keras_trainwatch.watch.publishing import Publisher
from keras_trainwatch.watch.schedule import ProbeSchedule
from keras_trainwatch.watch.step_losses import (
    StepLossListener,
    StepLossReader,
)
from keras_trainwatch.watch.summaries import SummaryListener, writes_summaries
from keras_trainwatch.watch.update import Listener, WatchUpdate


class GradientWatch(keras.callbacks.Callback):
    """Probes gradients during training and reports vanishing gradients,
    exploding gradients, dead ReLU units and the other ways training fails,
    layer by layer (see `keras_trainwatch.KINDS` and docs/gradient_watch.md).

    It measures the gradients of the model's own loss on a fixed probe batch
    (in training mode, with the backend's own gradient call: `tf.GradientTape`
    on TensorFlow, `jax.value_and_grad` on JAX, `torch.autograd.grad` on
    PyTorch, in one compiled function where the backend compiles)
    once before the first step, then at the end of every epoch or every
    `every_n_steps` steps, and runs the rules of `detectors` on them. Each
    finding names the layer, the evidence and the known remedy. Probing is
    stateless: no weight, optimizer state, batch-norm statistic, metric or
    dropout seed moves.

    Example:

    ```python
    watch = keras_trainwatch.GradientWatch((x_val[:64], y_val[:64]))
    model.fit(x, y, epochs=5, callbacks=[watch])
    for finding in watch.findings:
        print(finding.kind, finding.layer, finding.remedy)
    ```

    Args:
        probe_data: The fixed probe batch: `(x, y)` or
            `(x, y, sample_weight)` (arrays or tensors, any structure the
            model takes), a `tf.data.Dataset` (its first batch, taken at
            construction), a `keras.utils.PyDataset` (its batch 0) or a
            generator (its next batch: not the training generator itself).
        probe_samples: The most samples a probe measures: an integer >= 1
            (default 64, about two training steps of batch 32) or `None`
            for all of `probe_data`; taken evenly spread over it.
        every_n_steps: `None` (default) to probe at every epoch end, or an
            integer >= 1 to probe every that many training steps instead.
        log_dir: Optional TensorBoard log directory: per-layer statistics,
            gradient histograms and findings go to
            `<log_dir>/gradient_watch` (a deep copy, as a tuner's trial
            makes, to `<log_dir>/copy_<n>/gradient_watch`).
        vanishing_ratio: Float in (0, 1), default 1e-3. See
            `VanishingGradientDetector.max_ratio`.
        vanishing_relative_grad: Positive float, default 1e-4. See
            `VanishingGradientDetector.max_relative_grad`.
        exploding_grad_norm: Positive float, default 1e3. See
            `ExplodingGradientDetector.max_grad_norm`.
        exploding_growth: Float > 1, default 100. See
            `ExplodingGradientDetector.max_growth`.
        dead_fraction: Float in (0, 1], default 0.5. See
            `DeadReluDetector.max_dead_fraction`.
        saturated_fraction: Float in (0, 1], default 0.5. See
            `SaturationDetector.max_saturated`.
        loss_patience: Integer >= 2 (default 5) or `None` to turn the rules
            on the loss's course off. See `LossProgressDetector`.
        on_finding: What to do with a new finding: `"warn"` (default; one
            line on the `keras_trainwatch` logger), `"stop"` (warn and set
            `model.stop_training`), `"raise"` (raise
            `TrainingPathologyError`), or a callable given the `Finding`.
        keep_records: How many of the latest `ProbeRecord`s `records` keeps:
            an integer >= 1 (default 100) or `None` for all.
        loss_spike_z: Positive float (default 6) or `None` to turn the rule
            off: the z-score above the last 128 steps' losses at which a
            step's loss is a `loss_spike`. See `SpikeDetector`.
        logs: What goes into Keras's `logs` dict at each epoch end (and so
            into the progress bar and `History`): `"findings"` (default,
            one column: `gradient_watch/active_findings`), `"full"` (also
            the global gradient norm, the smallest relative gradient, the
            largest dead share and all findings so far) or `None`. The full
            statistics are always in `records` and, with `log_dir`, in
            TensorBoard.

    Attributes:
        detectors: The `DetectorSuite` built from the arguments above.
        findings: List of `Finding`s, each reported once and then updated.
        records: The latest `ProbeRecord`s (see `keep_records`), oldest
            first.
    """

    def __init__(
        self,
        probe_data: Any,
        *,
        probe_samples: int | None = 64,
        every_n_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
        vanishing_ratio: float = 1e-3,
        vanishing_relative_grad: float = 1e-4,
        exploding_grad_norm: float = 1e3,
        exploding_growth: float = 100.0,
        dead_fraction: float = 0.5,
        saturated_fraction: float = 0.5,
        loss_patience: int | None = 5,
        on_finding: OnFinding = "warn",
        keep_records: int | None = 100,
        loss_spike_z: float | None = 6.0,
        logs: str | None = "findings",
    ):
        super().__init__()
        self.schedule = ProbeSchedule(every_n_steps)
        self.on_finding = check_on_finding(on_finding)
        self.keep_records = optional_positive_int("keep_records", keep_records)
        self.logs = one_of("logs", logs, LOGS_MODES)
        self.detectors = DetectorSuite(
            vanishing_ratio=vanishing_ratio,
            vanishing_relative_grad=vanishing_relative_grad,
            exploding_grad_norm=exploding_grad_norm,
            exploding_growth=exploding_growth,
            dead_fraction=dead_fraction,
            saturated_fraction=saturated_fraction,
            loss_patience=loss_patience,
            loss_spike_z=loss_spike_z,
        )
        self.probe_samples = optional_positive_int(
            "probe_samples", probe_samples
        )
        check_backend()
        self.probe_batch = ProbeBatch.from_data(probe_data).at_most(
            self.probe_samples
        )
        self.log_dir = optional_path("log_dir", log_dir)
        self.run_folder = ""
        self._copies = 0
        self._step_losses = StepLossReader()
        self._runner = ProbeRunner(
            self.probe_batch, self.keep_records, self.detectors.history_size
        )
        self._publisher = Publisher()
        self._step_loss_listeners: list[StepLossListener] = []
        self._epoch = 0
        self._fit_started = False
        self._step_hook = TrainStepHook(self._after_execution)
        self._forget_run()

    def _forget_run(self):
        self._ledger = FindingLedger()
        self._runner.forget()
        self.detectors.reset()

    # --- what the watch has seen ------------------------------------------

    @property
    def every_n_steps(self) -> int | None:
        """Probe every this many steps, or `None` for every epoch end."""
        return self.schedule.every_n_steps

    @property
    def findings(self) -> list[Finding]:
        """The findings so far, each reported once and then updated."""
        return self._ledger.findings

    @property
    def active_findings(self) -> list[Finding]:
        """The findings the latest probe showed (new or lasting)."""
        return self._ledger.active

    @property
    def records(self):
        """The latest `ProbeRecord`s (see `keep_records`), oldest first."""
        return self._runner.records

    @property
    def last_record(self) -> ProbeRecord | None:
        """The latest probe's record (`None` before the first probe)."""
        return self._runner.last_record

    @property
    def probing(self) -> bool:
        """Whether the probe runs (`False` once the model's computation
        failed on the probe batch, until the probe is rebuilt)."""
        return self._runner.probe is not None and not self._runner.disabled

    @property
    def step(self) -> int:
        """The global training step as of the latest callback."""
        return self.schedule.step

    @property
    def probe(self) -> GradientProbe | None:
        """The `GradientProbe` in use (built when the model is set)."""
        return self._runner.probe

    @property
    def writes_summaries(self) -> bool:
        """Whether this process writes TensorBoard summaries (`log_dir` is
        set, and it is the chief under a multi-worker strategy)."""
        model = _keras_compat.callback_model(self)
        return self.log_dir is not None and (
            model is None or writes_summaries(model)
        )

    @property
    def summary_writer(self) -> ProbeSummaryWriter | None:
        """The TensorBoard writer, open during `fit` when
        `writes_summaries`, else `None`."""
        return (
            None
            if self._publisher.summaries is None
            else self._publisher.summaries.writer
        )

    def subscribe(self, listener: Listener) -> None:
        """Registers a callable told about every check of the watch, right
        after it, at the step it happened.

        Args:
            listener: Called as `listener(update)` with a `WatchUpdate`
                after every probe (its `record` set) and every check of the
                per-step losses that found something (`record=None`).
        """
        self._publisher.listeners.append(listener)

    def subscribe_step_losses(self, listener: StepLossListener) -> None:
        """Registers a callable handed every training step's loss, as the
        watch reads them from the device (in batches: see
        `keras_trainwatch.watch.step_losses`), before it looks for spikes.
        With a listener the losses are read even when spikes are not
        watched.

        Args:
            listener: Called as `listener(pairs)` with `(step, loss)` pairs,
                oldest first; a loss may be non-finite.
        """
        self._step_loss_listeners.append(listener)

    def read_step_losses(self) -> None:
        """Reads the pending per-step losses now (one host read), hands
        them to the step-loss listeners and reports spikes among them."""
        self._check_spikes()

    def loss_mean_restarted(self) -> None:
        """Tells the watch that Keras's running loss mean was reset within
        the epoch (`model.reset_metrics()`, as a rollback does), so that the
        per-step losses count from here."""
        self._step_losses.restart_mean(self.schedule.epoch_steps)

    # --- fit lifecycle --------------------------------------------------------

    def set_model(self, model: keras.Model) -> None:
        """Attaches the model, builds the probe and checks the probe batch.

        Raises:
            ValueError: If `probe_data` does not fit the model (wrong shapes,
                types, or a model without a loss).
        """
        if model is not _keras_compat.callback_model(self):
            # Findings and records of another model mean nothing for this one
            # (a tuner's next trial, a deep copy attached to a new model).
            self._forget_run()
        super().set_model(model)
        if self._runner.attach(model, histograms=self.writes_summaries):
            self.detectors.attach(model, self.probe_batch.y)

    def on_train_begin(self, logs=None):
        PROGRESS_LINE.reset()
        self.schedule.start_fit(self._optimizer_step())
        self.detectors.start_fit((self.params or {}).get("epochs"))
        self._fit_started = False
        if self.writes_summaries and self._publisher.summaries is None:
            self._publisher.summaries = SummaryListener(
                os.path.join(self.log_dir, self.run_folder)
            )
        if self._publisher.summaries is not None:
            self._publisher.summaries.open()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.schedule.start_epoch(
            (self.params or {}).get("steps"),
            getattr(self.model, "steps_per_execution", 1) or 1,
        )
        self._step_losses.start_epoch()
        if not self.schedule.per_epoch or self._reads_step_losses:
            # Here, not in on_train_begin: other callbacks may have had Keras
            # make a new train function there.
            self._step_hook.install(self.model)
        if not self._fit_started:
            self._fit_started = True
            self._run_probe()

    def _after_execution(self, logs=None):
        due = self.schedule.after_execution()
        read_now = self._reads_step_losses and self._step_losses.snapshot(
            logs, self.schedule.step, self.schedule.epoch_steps
        )
        if read_now or due:
            self._check_spikes(probe_after_a_jump=not due)
        if due:
            self._run_probe()

    def on_epoch_end(self, epoch, logs=None):
        self._check_spikes(probe_after_a_jump=not self.schedule.per_epoch)
        if logs:
            self.detectors.observe_epoch_loss(logs.get("loss"))
        if self.schedule.end_epoch(self._optimizer_step()):
            self._run_probe()
        if logs is not None and self.last_record is not None:
            logs.update(self.summary_logs())

    def on_train_end(self, logs=None):
        self._step_hook.remove(self.model)
        self.close()

    def on_test_end(self, logs=None):
        self._release_first_probe()

    def on_predict_end(self, logs=None):
        self._release_first_probe()

    def _release_first_probe(self):
        # `evaluate` and `predict` set the model too, which runs the first
        # probe as the check of the probe batch. Outside `fit` nothing takes
        # it (inside, the first epoch has taken it before any validation).
        if self.probe is not None:
            self.probe.release_first_probe()

    def close(self) -> None:
        """Closes the TensorBoard event file (done at the end of each `fit`;
        the next `fit` opens a new one in the same run folder)."""
        if self._publisher.summaries is not None:
            self._publisher.summaries.close()

    def summary_logs(self) -> dict[str, float]:
        """The latest probe's summary, as put into the `logs` dict (see
        `logs` and `keras_trainwatch.watch.logs_summary.summary_logs`)."""
        return summary_logs(self.last_record, self._ledger, self.logs)

    # --- checks ---------------------------------------------------------------

    @property
    def _reads_step_losses(self) -> bool:
        return self.detectors.watches_spikes or bool(self._step_loss_listeners)

    def _check_spikes(self, probe_after_a_jump: bool = True):
        """Reads the pending per-step losses, hands them to the step-loss
        listeners and reports spikes; a new spike is followed by a probe at
        once (what did the jump do to the layers?)."""
        if not self._reads_step_losses or not self._step_losses.pending:
            return
        losses = self._step_losses.read()
        for listener in self._step_loss_listeners:
            listener(losses)
        if not self.detectors.watches_spikes or not self.probing:
            return
        found = self.detectors.spikes(self._epoch, losses)
        if not found:
            return
        sighting = self._ledger.sighted(found)
        self._publish(sighting, record=None)
        if probe_after_a_jump and sighting.new + sighting.returned:
            self._run_probe()

    def _run_probe(self):
        step = self.schedule.step
        self.schedule.probed()
        record = self._runner.run(
            self._epoch, step, raise_errors=self.on_finding == "raise"
        )
        if record is None:
            return
        found = self.detectors(record, tuple(self._runner.recent))
        self._runner.keep(record)
        update = self._ledger.update(
            found,
            self._epoch,
            step,
            recovered=lambda finding: recovered(record, finding.layer),
        )
        self._publish(update, record)

    def _publish(self, findings: LedgerUpdate, record: ProbeRecord | None):
        update = WatchUpdate(
            epoch=self._epoch,
            step=self.schedule.step if record is None else record.step,
            findings=findings,
            record=record,
            writer=self.summary_writer,
        )
        self._publisher(
            update, self.on_finding, self.model, self.params, self._histograms
        )

    def _histograms(self):
        """The latest probe's `(variable names, buckets)`, or `None`."""
        buckets = self.probe.last_histograms if self.probe else None
        if buckets is None:
            return None
        return self.probe.watched_variable_names, buckets

    def _optimizer_step(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return self.schedule.step
        return optimizer_step(optimizer)

    def __deepcopy__(self, memo):
        twin = deepcopy_without(
            self,
            memo,
            unbound=(
                _keras_compat.CALLBACK_MODEL_ATTRIBUTE,
                "_step_hook",
            ),
        )
        twin._step_hook = TrainStepHook(twin._after_execution)
        # A tuner copies the callbacks for every trial: each copy writes a
        # run of its own instead of mixing all trials into one.
        self._copies += 1
        twin._copies = 0
        twin.run_folder = os.path.join(self.run_folder, f"copy_{self._copies}")
        return twin
