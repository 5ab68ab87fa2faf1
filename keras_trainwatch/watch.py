"""GradientWatch: the callback that probes gradients while `model.fit` runs."""

from __future__ import annotations

import collections
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._validation import optional_path, optional_positive_int
from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.detectors.suite import DetectorSuite
from keras_trainwatch.findings import Finding
from keras_trainwatch.learning_rate import optimizer_step
from keras_trainwatch.ledger import FindingLedger
from keras_trainwatch.on_finding import (
    OnFinding,
    check_on_finding,
    report_changes,
    report_new,
)
from keras_trainwatch.probe import GradientProbe, ProbeBatch, build_probe
from keras_trainwatch.records import ProbeRecord
from keras_trainwatch.schedule import ProbeSchedule
from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.step_losses import StepLossReader
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter

LOGGER = logging.getLogger("keras_trainwatch")

LOG_PREFIX = "gradient_watch/"


def writes_summaries(model: keras.Model) -> bool:
    """Whether this process writes logs for `model`: always, except on the
    non-chief workers of a multi-worker strategy (which would otherwise
    write the same run several times)."""
    strategy = getattr(model, "distribute_strategy", None)
    return bool(
        getattr(
            getattr(strategy, "extended", None), "should_save_summary", True
        )
    )


class GradientWatch(keras.callbacks.Callback):
    """Probes gradients during training and reports vanishing gradients,
    exploding gradients, dead ReLU units and the other ways training fails,
    layer by layer.

    Training that fails quietly wastes hours: the lower layers of a deep
    sigmoid network stop learning, a learning rate too high blows the
    gradients up until the loss turns NaN, ReLU units die and never come
    back. `GradientWatch` measures the gradients of the model's own loss on a
    fixed probe batch (in training mode, with `tf.GradientTape`, in one
    compiled function) and runs detectors on the per-layer statistics. Each
    finding names the layer, the evidence and the known remedy.

    Beyond those three, it reports the other ways training fails, each
    cause before the symptoms it explains: construction faults found before
    any step (an output activation that does not fit the loss, linear layers
    back to back, a dropout rate that leaves almost nothing), no gradient
    reaching any weight, saturated sigmoid/tanh units, layers whose units
    are all identical, inputs or regression targets far from unit scale, a
    loss that learns nothing beyond the base rate, and a loss that
    oscillates (see `keras_trainwatch.KINDS`).

    It probes once before the first training step (a model broken from its
    initialization is caught before any step is wasted), then at the end of
    every epoch, or every `every_n_steps` training steps.

    Probing does not change training: it runs statelessly, so no weight,
    optimizer state, batch-norm statistic, metric or dropout seed moves.

    Example:

    ```python
    watch = keras_trainwatch.GradientWatch((x_val[:64], y_val[:64]))
    model.fit(x, y, epochs=5, callbacks=[watch])
    for finding in watch.findings:
        print(finding.kind, finding.layer, finding.remedy)
    ```

    Args:
        probe_data: The fixed probe batch: `(x, y)` or
            `(x, y, sample_weight)` (numpy arrays or tensors, any structure
            the model takes, dicts included), a `tf.data.Dataset` (its first
            batch is taken once, at construction), a
            `keras.utils.PyDataset` (its batch 0) or a generator (its next
            batch, consumed: do not pass the training generator itself).
            Note that taking a batch from a `tf.data.Dataset` that
            reshuffles each iteration advances its shuffle seed: to keep
            training bitwise reproducible, pass arrays or a separate dataset.
        probe_samples: The most samples a probe measures: an integer >= 1
            (default 64) or `None` for all of `probe_data`. From a larger
            `probe_data` that many are taken, spread evenly over it (so a
            whole validation set can be passed). A probe costs about one
            training step per sample, so 64 samples cost about two training
            steps of batch 32; 32 to 64 are enough for the statistics (the
            real-model benchmark probes with 32, the pathology suite finds
            the same with 64 as with 256).
        every_n_steps: `None` (default) to probe at the end of every epoch,
            or an integer >= 1 to probe every that many training steps
            instead, right after the step (the watch wraps the model's
            `train_function` during `fit` rather than adding a batch
            callback, which would slow every step). With
            `steps_per_execution > 1`, probes happen after the first
            execution that reaches each multiple.
        log_dir: Optional TensorBoard log directory. When given, per-layer
            gradient norms, relative gradients, weight norms, dead fractions,
            gradient histograms and findings are written to
            `<log_dir>/gradient_watch` (by the chief only, under a
            multi-worker strategy). A deep copy (a keras-tuner trial copies
            its callbacks) writes to `<log_dir>/copy_<n>/gradient_watch`
            instead, `n` counting the copies of this watch, so every trial
            is a run of its own in TensorBoard and `trainwatch report`.
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
            `SaturationDetector.max_saturated` (a saturated layer is a
            finding only when it costs learning).
        loss_patience: Integer >= 2 (default 5) or `None` to turn the rules
            off: epochs judged at a time by the rules on the loss's course
            (a loss that does not move, stays at the base rate, or
            oscillates). A loss at the base rate is reported after
            `loss_patience` + 1 epochs or a quarter of `fit`'s epochs,
            whichever is longer. See `LossProgressDetector`.
        on_finding: What to do with a new finding: `"warn"` (default; one
            line on the `keras_trainwatch` logger), `"stop"` (warn and set
            `model.stop_training`), `"raise"` (raise
            `TrainingPathologyError`), or a callable that receives the
            `Finding`.
        loss_spike_z: Positive float (default 6, OLMo-core's rule) or `None`
            to turn the rule off: a training step whose loss is this many
            standard deviations above the last 128 steps' (after 32 steps;
            before them, 10 times the largest of the first steps' losses,
            confirmed by the next step) is a `loss_spike` finding. The per-step losses stay on the
            device and are read 16 steps at a time. See `SpikeDetector`.
        keep_records: How many of the latest `ProbeRecord`s to keep in
            `records`: an integer >= 1 (default 100) or `None` for all of
            them. The detectors keep what they need on their own, and the
            full history is in the TensorBoard event files with `log_dir`,
            so memory stays bounded however long the run.

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
    ):
        super().__init__()
        self.schedule = ProbeSchedule(every_n_steps)
        self.on_finding = check_on_finding(on_finding)
        self.keep_records = optional_positive_int("keep_records", keep_records)
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
        self._step_losses = StepLossReader()
        self.probe_samples = optional_positive_int(
            "probe_samples", probe_samples
        )
        self.probe_batch = ProbeBatch.from_data(probe_data).at_most(
            self.probe_samples
        )
        self.log_dir = optional_path("log_dir", log_dir)
        self._summary_writer: ProbeSummaryWriter | None = None
        self.run_folder = ""
        self._copies = 0
        self._probe: GradientProbe | None = None
        self._probe_key: tuple | None = None
        self._listeners: list[Callable] = []
        self._epoch = 0
        self._fit_started = False
        self._step_hook = TrainStepHook(self._after_execution)
        self._forget_run()

    def _forget_run(self):
        self._ledger = FindingLedger()
        self.records: collections.deque[ProbeRecord] = collections.deque(
            maxlen=self.keep_records
        )
        self._recent: collections.deque[ProbeRecord] = collections.deque(
            maxlen=self.detectors.history_size
        )
        self._last_record: ProbeRecord | None = None
        self._disabled = False
        self.detectors.reset()

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
    def step(self) -> int:
        """The global training step as of the latest callback."""
        return self.schedule.step

    @property
    def last_record(self) -> ProbeRecord | None:
        """The latest probe's record (`None` before the first probe)."""
        return self._last_record

    @property
    def writes_summaries(self) -> bool:
        """Whether this process writes TensorBoard summaries (`log_dir` is
        set, and it is the chief under a multi-worker strategy)."""
        return self.log_dir is not None and (
            self._model is None or writes_summaries(self.model)
        )

    @property
    def summary_writer(self) -> ProbeSummaryWriter | None:
        """The TensorBoard writer, open during `fit` when
        `writes_summaries`, else `None`; other callbacks add to the same
        run through it."""
        return self._summary_writer

    def subscribe(
        self, listener: Callable[[list[Finding], ProbeRecord], None]
    ) -> None:
        """Registers a callable told about new findings right after each
        probe (with the probe's record), at the step they were found.

        Args:
            listener: Called as `listener(new_findings, record)` after every
                probe, `new_findings` possibly empty.
        """
        self._listeners.append(listener)

    @property
    def probe(self) -> GradientProbe | None:
        """The `GradientProbe` in use (built when the model is set)."""
        return self._probe

    def set_model(self, model: keras.Model) -> None:
        """Attaches the model, builds the probe and checks the probe batch.

        Raises:
            ValueError: If `probe_data` does not fit the model (wrong shapes,
                types, or a model without a loss).
        """
        if model is not getattr(self, "_model", None):
            # Findings and records of another model mean nothing for this one
            # (a tuner's next trial, a deep copy attached to a new model).
            self._forget_run()
        super().set_model(model)
        # Recompiling changes the loss, optimizer and trainable variables
        # the compiled probe was traced with.
        key = (
            id(model),
            id(getattr(model, "optimizer", None)),
            id(_keras_compat.compiled_loss(model)),
        )
        if self._probe is None or key != self._probe_key:
            self._build_probe()
            self._probe_key = key

    def _build_probe(self):
        self._probe = build_probe(
            self.model, self.probe_batch, histograms=self.writes_summaries
        )
        self.detectors.attach(self.model, self.probe_batch.y)
        self._disabled = False  # a new probe gets a new chance

    def on_train_begin(self, logs=None):
        self.schedule.start_fit(self._optimizer_step())
        self.detectors.start_fit((self.params or {}).get("epochs"))
        self._fit_started = False
        if self.writes_summaries and self._summary_writer is None:
            self._summary_writer = ProbeSummaryWriter(
                os.path.join(self.log_dir, self.run_folder)
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.schedule.start_epoch(
            (self.params or {}).get("steps"),
            getattr(self.model, "steps_per_execution", 1) or 1,
        )
        self._step_losses.start_epoch()
        if not self.schedule.per_epoch or self.detectors.watches_spikes:
            # Here, not in on_train_begin: other callbacks may have had Keras
            # make a new train function there.
            self._step_hook.install(self.model)
        if not self._fit_started:
            self._fit_started = True
            self._run_probe()

    def _after_execution(self, logs=None):
        due = self.schedule.after_execution()
        if self.detectors.watches_spikes and self._step_losses.snapshot(
            logs, self.schedule.step, self.schedule.epoch_steps
        ):
            self._check_spikes()
        if due:
            self._check_spikes()
            self._run_probe()

    def _check_spikes(self):
        """Reads the pending per-step losses and reports spikes."""
        if not self.detectors.watches_spikes or self._disabled:
            return
        found = self.detectors.spikes(self._epoch, self._step_losses.read())
        if found:
            sighting = self._ledger.sighted(found)
            self._report(sighting.new, sighting.returned, resolved=[])

    def on_epoch_end(self, epoch, logs=None):
        self._check_spikes()
        if logs:
            self.detectors.observe_epoch_loss(logs.get("loss"))
        if self.schedule.end_epoch(self._optimizer_step()):
            self._run_probe()
        if logs is not None and self._last_record is not None:
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
        if self._probe is not None:
            self._probe.release_first_probe()

    def close(self) -> None:
        """Closes the TensorBoard event file (done at the end of each `fit`;
        the next `fit` opens a new one in the same run folder)."""
        if self._summary_writer is not None:
            self._summary_writer.close()
            self._summary_writer = None

    def summary_logs(self) -> dict[str, float]:
        """The latest probe's summary, as put into the `logs` dict.

        Returns:
            A dict with keys `gradient_watch/grad_norm` (global gradient
            norm), `gradient_watch/min_relative_grad` (the smallest
            per-layer |g|/|w|), `gradient_watch/max_dead_fraction`,
            `gradient_watch/findings` (findings so far) and
            `gradient_watch/active_findings` (those the latest probe showed).
        """
        record = self._last_record
        relative = [layer.relative_grad for layer in record.layers]
        return {
            f"{LOG_PREFIX}grad_norm": record.grad_norm,
            f"{LOG_PREFIX}min_relative_grad": min(relative, default=0.0),
            f"{LOG_PREFIX}max_dead_fraction": record.max_dead_fraction,
            f"{LOG_PREFIX}findings": float(len(self.findings)),
            f"{LOG_PREFIX}active_findings": float(len(self._ledger.active)),
        }

    def __deepcopy__(self, memo):
        twin = deepcopy_without(
            self,
            memo,
            unbound=(
                "_model",
                "_probe",
                "_probe_key",
                "_summary_writer",
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

    def _drawing_progress_bar(self) -> bool:
        """Whether Keras's progress bar (`verbose=1`, or `"auto"`, the
        default, which Keras's `ProgbarLogger` draws as 1) is redrawing a
        line on a terminal right now."""
        verbose = (self.params or {}).get("verbose")
        return verbose in (1, "auto") and sys.stdout.isatty()

    def _optimizer_step(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return self.schedule.step
        return optimizer_step(optimizer)

    def _run_probe(self):
        if self._disabled or self._probe is None:
            return
        step = self.schedule.step
        self.schedule.probed()
        try:
            record = self._probe(self._epoch, step)
            found = self.detectors(record, tuple(self._recent))
        except Exception as error:  # noqa: BLE001 -- see below
            # A monitoring callback must not crash the training it watches:
            # report the cause and stop probing, unless asked to raise.
            if self.on_finding == "raise":
                raise
            self._disabled = True
            LOGGER.warning(
                "GradientWatch: the probe failed at epoch %d, step %d and is "
                "disabled for the rest of this run: %s: %s",
                self._epoch,
                step,
                type(error).__name__,
                error,
            )
            return
        self._last_record = record
        self.records.append(record)
        self._recent.append(record)
        update = self._ledger.update(found, self._epoch, step)
        if self._summary_writer is not None:
            self._summary_writer.write_record(record)
            if self._probe.last_histograms is not None:
                self._summary_writer.write_histograms(
                    self._probe.watched_variable_names,
                    self._probe.last_histograms,
                    step,
                )
        self._report(update.new, update.returned, update.resolved)

    def _report(self, new, returned, resolved):
        """Writes, reports and hands on what one check found."""
        if self._summary_writer is not None:
            self._summary_writer.write_findings(new + returned)
            self._summary_writer.write_resolved(resolved)
        report_new(
            new, self.on_finding, self.model, self._drawing_progress_bar()
        )
        report_changes(
            returned,
            resolved,
            self.on_finding,
            self._drawing_progress_bar() and not new,
        )
        if self._last_record is not None:
            for listener in self._listeners:
                listener(new, self._last_record)
