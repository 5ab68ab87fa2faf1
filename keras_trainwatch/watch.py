"""GradientWatch: the callback that probes gradients while `model.fit` runs."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Callable
from typing import Any

import keras

from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.detectors import (
    DeadReluDetector,
    ExplodingGradientDetector,
    VanishingGradientDetector,
)
from keras_trainwatch.findings import Finding
from keras_trainwatch.probe import GradientProbe
from keras_trainwatch.probe_data import ProbeBatch
from keras_trainwatch.reporting import (
    FindingLedger,
    OnFinding,
    act_on,
    check_on_finding,
)
from keras_trainwatch.stats import ProbeRecord
from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.tensorboard import ProbeSummaryWriter

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
    exploding gradients and dead ReLU units, layer by layer.

    Training that fails quietly wastes hours: the lower layers of a deep
    sigmoid network stop learning, a learning rate too high blows the
    gradients up until the loss turns NaN, ReLU units die and never come
    back. `GradientWatch` measures the gradients of the model's own loss on a
    fixed probe batch (in training mode, with `tf.GradientTape`, in one
    compiled function) and runs detectors on the per-layer statistics. Each
    finding names the layer, the evidence and the known remedy.

    It probes once before the first training step (a model broken from its
    initialization is caught before any step is wasted), then at the end of
    every epoch, or every `every_n_steps` training steps.

    Probing does not change training: it runs statelessly, so no weight,
    optimizer state, batch-norm statistic, metric or dropout seed moves.

    Example:

    ```python
    watch = keras_trainwatch.GradientWatch((x_val[:256], y_val[:256]))
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
            batch, consumed: do not pass the training generator itself). A
            few hundred samples is plenty. Note that taking a batch from a `tf.data.Dataset` that
            reshuffles each iteration advances its shuffle seed: to keep
            training bitwise reproducible, pass arrays or a separate dataset.
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
            multi-worker strategy).
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
        on_finding: What to do with a new finding: `"warn"` (default; one
            line on the `keras_trainwatch` logger), `"stop"` (warn and set
            `model.stop_training`), `"raise"` (raise
            `TrainingPathologyError`), or a callable that receives the
            `Finding`.

    Attributes:
        findings: List of `Finding`s, each reported once and then updated.
        records: List of `ProbeRecord`s, one per probe.
    """

    def __init__(
        self,
        probe_data: Any,
        *,
        every_n_steps: int | None = None,
        log_dir: str | os.PathLike | None = None,
        vanishing_ratio: float = 1e-3,
        vanishing_relative_grad: float = 1e-4,
        exploding_grad_norm: float = 1e3,
        exploding_growth: float = 100.0,
        dead_fraction: float = 0.5,
        on_finding: OnFinding = "warn",
    ):
        super().__init__()
        if every_n_steps is not None and (
            isinstance(every_n_steps, bool)
            or not isinstance(every_n_steps, numbers.Integral)
            or every_n_steps < 1
        ):
            raise ValueError(
                "Invalid value received for argument `every_n_steps`. "
                "Expected None (probe every epoch) or an integer >= 1. "
                f"Received: every_n_steps={every_n_steps!r}"
            )
        self.every_n_steps = (
            None if every_n_steps is None else int(every_n_steps)
        )
        self.on_finding = check_on_finding(on_finding)
        self.detectors = (
            VanishingGradientDetector(
                max_ratio=vanishing_ratio,
                max_relative_grad=vanishing_relative_grad,
            ),
            ExplodingGradientDetector(
                max_grad_norm=exploding_grad_norm, max_growth=exploding_growth
            ),
            DeadReluDetector(max_dead_fraction=dead_fraction),
        )
        self.probe_batch = ProbeBatch.from_data(probe_data)
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self._summary_writer = None
        self._probe: GradientProbe | None = None
        self._probe_key: tuple | None = None
        self._ledger = FindingLedger()
        self.records: list[ProbeRecord] = []
        self._listeners: list[Callable] = []
        self._disabled = False
        self._epoch = 0
        self._step = 0
        self._epoch_start_step = 0
        self._last_probe_step: int | None = None
        self._fit_started = False
        self._executions = 0
        self._step_hook = TrainStepHook(self._probe_if_due)

    @property
    def findings(self) -> list[Finding]:
        """The findings so far, each reported once and then updated."""
        return self._ledger.findings

    @property
    def step(self) -> int:
        """The global training step as of the latest callback."""
        return self._step

    @property
    def summary_writer(self) -> ProbeSummaryWriter | None:
        """The TensorBoard writer (`None` without `log_dir`), so that other
        callbacks can add to the same run."""
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
            self._ledger = FindingLedger()
            self.records = []
        super().set_model(model)
        # Recompiling changes the loss, optimizer and trainable variables
        # the compiled probe was traced with.
        key = (
            id(model),
            id(getattr(model, "optimizer", None)),
            id(getattr(model, "_compile_loss", None)),
        )
        if self._probe is None or key != self._probe_key:
            self._build_probe()
            self._probe_key = key

    def _build_probe(self):
        if (
            self.log_dir is not None
            and self._summary_writer is None
            and writes_summaries(self.model)
        ):
            self._summary_writer = ProbeSummaryWriter(self.log_dir)
        hook = (
            None
            if self._summary_writer is None
            else self._summary_writer.write_gradient_histograms
        )
        try:
            self._ensure_built()
            probe = GradientProbe(
                self.model, self.probe_batch, gradient_hook=hook
            )
            probe.trace()
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            RuntimeError,
        ) as error:
            if "No loss to compute" in str(error):
                raise ValueError(
                    "GradientWatch measures the gradients of the model's own "
                    f"loss, and model '{self.model.name}' has none: compile "
                    "it with `loss=` (a model with a custom `train_step` must "
                    "still be compiled with the loss it minimizes, or add it "
                    "with `add_loss`)."
                ) from error
            raise ValueError(
                "Argument `probe_data` does not fit the model "
                f"'{self.model.name}': computing its loss and gradients "
                f"failed with {type(error).__name__}: {error}"
            ) from error
        self._probe = probe
        self._disabled = False  # a new probe gets a new chance
        self._announce_layout(probe)

    def _ensure_built(self):
        """Builds what TensorFlow's `fit` would only build while tracing its
        first training step (the layers of a subclassed model, the compiled
        loss and metrics), the way Keras builds it under a distribution
        strategy: symbolically, on the shapes of a batch. This creates the
        same variables, in the same order, with the same initial values, so
        that the initial probe can run."""
        model, batch = self.model, self.probe_batch
        compile_parts = [
            getattr(model, name, None)
            for name in ("_compile_loss", "_compile_metrics")
        ]
        if all(layer.built for layer in model._flatten_layers()) and all(
            part is None or part.built for part in compile_parts
        ):
            return
        # This also builds the compiled loss (a multi-output loss creates
        # its per-output trackers when built): built inside the probe's
        # trace, it would make TensorFlow trace the probe a second time.
        model._symbolic_build(
            data_batch=(batch.x, batch.y, batch.sample_weight)
        )

    def _announce_layout(self, probe):
        layout = probe.layout
        inferred = [r.name for r in layout.gradient_relus]
        if inferred:
            LOGGER.warning(
                "GradientWatch: the outputs of ReLU layers %s cannot be "
                "reached (a subclassed or nested model); their dead units are "
                "inferred from units whose weights and bias get exactly zero "
                "gradient.",
                ", ".join(inferred),
            )
        if layout.unchecked_relu_layers:
            LOGGER.warning(
                "GradientWatch: ReLU layers %s cannot be checked for dead "
                "units (their outputs cannot be reached and they have no "
                "kernel of their own).",
                ", ".join(layout.unchecked_relu_layers),
            )

    def on_train_begin(self, logs=None):
        self._step = self._read_iterations()
        self._epoch_start_step = self._step
        self._fit_started = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start_step = self._step
        self._executions = 0
        if self.every_n_steps is not None:
            # Here, not in on_train_begin: other callbacks may have had Keras
            # make a new train function there.
            self._step_hook.install(self.model)
        if not self._fit_started:
            self._fit_started = True
            self._run_probe()

    def _probe_if_due(self):
        self._executions += 1
        steps_done = self._executions * getattr(
            self.model, "steps_per_execution", 1
        )
        steps_per_epoch = (self.params or {}).get("steps")
        if steps_per_epoch:
            # The last execution of an epoch may run fewer steps.
            steps_done = min(steps_done, steps_per_epoch)
        self._step = self._epoch_start_step + steps_done
        last = self._last_probe_step or 0
        if self._step // self.every_n_steps > last // self.every_n_steps:
            self._run_probe()

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_steps is None:
            self._step = self._read_iterations()
            self._run_probe()
        if logs is not None and self.records:
            logs.update(self.summary_logs())

    def on_train_end(self, logs=None):
        self._step_hook.remove(self.model)
        if self._summary_writer is not None:
            self._summary_writer.flush()

    def summary_logs(self) -> dict[str, float]:
        """The latest probe's summary, as put into the `logs` dict.

        Returns:
            A dict with keys `gradient_watch/grad_norm` (global gradient
            norm), `gradient_watch/min_relative_grad` (the smallest
            per-layer |g|/|w|), `gradient_watch/max_dead_fraction` and
            `gradient_watch/findings` (findings so far).
        """
        record = self.records[-1]
        relative = [layer.relative_grad for layer in record.layers]
        return {
            f"{LOG_PREFIX}grad_norm": record.grad_norm,
            f"{LOG_PREFIX}min_relative_grad": min(relative, default=0.0),
            f"{LOG_PREFIX}max_dead_fraction": record.max_dead_fraction,
            f"{LOG_PREFIX}findings": float(len(self.findings)),
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
        twin._step_hook = TrainStepHook(twin._probe_if_due)
        return twin

    def _read_iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return self._step
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def _run_probe(self):
        if self._disabled or self._probe is None:
            return
        self._last_probe_step = self._step
        try:
            record = self._probe(self._epoch, self._step)
            history = self.records
            found = [f for d in self.detectors for f in d(record, history)]
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
                self._step,
                type(error).__name__,
                error,
            )
            return
        self.records.append(record)
        new = self._ledger.add(found)
        if self._summary_writer is not None:
            self._summary_writer.write_record(record)
            self._summary_writer.write_findings(new)
        for finding in new:
            act_on(finding, self.on_finding, self.model)
        for listener in self._listeners:
            listener(new, record)
