"""Every rule a `GradientWatch` applies, built from its arguments, in the
order their findings are reported."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras

from keras_trainwatch._internal_errors import report_bug
from keras_trainwatch._validation import as_arguments
from keras_trainwatch.detectors.base import (
    Detector,
    LossCourseRule,
    ModelCheck,
    StepRule,
)
from keras_trainwatch.detectors.base_rate import chance_loss
from keras_trainwatch.detectors.causes import CauseLinker
from keras_trainwatch.detectors.dead_relu import DeadReluDetector
from keras_trainwatch.detectors.exploding import ExplodingGradientDetector
from keras_trainwatch.detectors.loss_kinds import is_regression
from keras_trainwatch.detectors.loss_progress import LossProgressDetector
from keras_trainwatch.detectors.loss_spike import SpikeDetector
from keras_trainwatch.detectors.model_checks import ModelChecks
from keras_trainwatch.detectors.no_gradient import NoGradientDetector
from keras_trainwatch.detectors.remedies import RemedyAdvisor
from keras_trainwatch.detectors.saturation import SaturationDetector
from keras_trainwatch.detectors.symmetry import SymmetricUnitsDetector
from keras_trainwatch.detectors.vanishing import VanishingGradientDetector
from keras_trainwatch.findings import (
    LOSS_NOT_IMPROVING,
    SATURATED_UNITS,
    VANISHING_GRADIENTS,
    Finding,
)
from keras_trainwatch.records import ProbeRecord

# Each detector argument by the name `GradientWatch` gives it, so that an
# invalid value is reported under the name the user typed.
WATCH_ARGUMENTS = {
    "max_ratio": "vanishing_ratio",
    "max_relative_grad": "vanishing_relative_grad",
    "max_grad_norm": "exploding_grad_norm",
    "max_growth": "exploding_growth",
    "max_dead_fraction": "dead_fraction",
    "max_saturated": "saturated_fraction",
    "patience": "loss_patience",
    "max_z": "loss_spike_z",
}


class DetectorSuite:
    """The detectors of one watch, and the order they speak in.

    A probe's record goes through the construction checks of the model
    first, then every per-probe detector, then the `CauseLinker`, which puts
    a cause before the symptoms it explains, then the `RemedyAdvisor`,
    which fits the remedies to the optimizer and to what was found before.
    The per-step losses go to the spike rule, and each epoch's loss to the loss-progress rules. The
    arguments are `GradientWatch`'s, documented and defaulted there (a
    watch's suite is `watch.detectors`).

    Example:

    ```python
    suite = keras_trainwatch.GradientWatch((x, y), dead_fraction=0.3).detectors
    suite.attach(model, y)
    findings = suite(record, recent_records)
    ```
    """

    def __init__(
        self,
        *,
        vanishing_ratio: float,
        vanishing_relative_grad: float,
        exploding_grad_norm: float,
        exploding_growth: float,
        dead_fraction: float,
        saturated_fraction: float,
        loss_patience: int | None,
        loss_spike_z: float | None,
    ):
        with as_arguments(WATCH_ARGUMENTS):
            self.saturation = SaturationDetector(
                max_saturated=saturated_fraction
            )
            self.detectors: tuple[Detector, ...] = (
                VanishingGradientDetector(
                    max_ratio=vanishing_ratio,
                    max_relative_grad=vanishing_relative_grad,
                ),
                ExplodingGradientDetector(
                    max_grad_norm=exploding_grad_norm,
                    max_growth=exploding_growth,
                ),
                DeadReluDetector(max_dead_fraction=dead_fraction),
                NoGradientDetector(),
                self.saturation,
                SymmetricUnitsDetector(),
            )
            self.loss_progress: LossCourseRule | None = (
                None
                if loss_patience is None
                else LossProgressDetector(patience=loss_patience)
            )
            self.spike_detector: StepRule | None = (
                None
                if loss_spike_z is None
                else SpikeDetector("training loss", max_z=loss_spike_z)
            )
        self._model_checks: ModelCheck | None = None
        self._failed: set[str] = set()
        self._cause_linker = CauseLinker()
        self._advisor = RemedyAdvisor()

    @property
    def history_size(self) -> int:
        """How many earlier records the detectors look back on."""
        return max(detector.history_size for detector in self.detectors)

    @property
    def _probe_rules(self) -> tuple:
        """Everything judged at a probe, in the order it speaks."""
        checks = (self._model_checks,) if self._model_checks else ()
        course = (self.loss_progress,) if self.loss_progress else ()
        return checks + self.detectors + course

    @property
    def watches_spikes(self) -> bool:
        """Whether the per-step losses are checked for spikes."""
        return self.spike_detector is not None

    def attach(self, model: keras.Model, targets) -> None:
        """Prepares the rules that depend on the model: its construction
        checks, the kind of its loss, and the base-rate loss of the probe
        batch's `targets`."""
        self._model_checks = self._contained(ModelChecks, None, model, targets)
        self._cause_linker = CauseLinker(regression=is_regression(model))
        self._advisor.attach(model)
        if self.loss_progress is not None:
            self.loss_progress.chance = chance_loss(model, targets)

    def start_fit(self, planned_epochs: int | None) -> None:
        """Tells the loss-progress rules how many epochs `fit` plans."""
        if self.loss_progress is not None:
            self.loss_progress.start_fit(planned_epochs)

    def reset(self) -> None:
        """Forgets the losses seen (a new run of a new model)."""
        self._failed.clear()
        self._advisor.reset()
        if self.spike_detector is not None:
            self.spike_detector.reset()
        if self.loss_progress is not None:
            self.loss_progress.reset()

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        """The findings of one probe, causes before their symptoms.

        Args:
            record: The probe's record.
            recent: The latest earlier records, oldest first (at most
                `history_size`).

        Returns:
            The findings, in the order they are reported.
        """
        found = [
            finding
            for rule in self._probe_rules
            for finding in self._contained(rule, [], record, recent)
        ]
        found += self._contained(
            self._saturation_with_symptoms, [], found, record
        )
        linked = self._contained(self._cause_linker, found, found, record)
        return self._contained(self._advisor, linked, linked)

    def _contained(self, rule, fallback, *args):
        """`rule(*args)`, or `fallback` when the rule fails: a bug of ours,
        reported once (raised under `KERAS_TRAINWATCH_STRICT=1`) and the
        rule skipped for the rest of the run, so that the other rules and
        the training go on."""
        name = getattr(rule, "__qualname__", type(rule).__name__)
        if name in self._failed:
            return fallback
        try:
            return rule(*args)
        except Exception as error:  # noqa: BLE001 -- our bug; see report_bug
            self._failed.add(name)
            report_bug(
                f"the rule {name}", error, "it is off for the rest of this run"
            )
            return fallback

    def _saturation_with_symptoms(self, found, record):
        """Saturated layers not flagged on their own, next to a symptom the
        saturation may explain: a loss that is not improving, or gradients
        that vanish."""
        symptoms = [
            text
            for kind, text in (
                (LOSS_NOT_IMPROVING, "the training loss is not improving"),
                (VANISHING_GRADIENTS, "gradients vanish in this probe"),
            )
            if any(f.kind == kind for f in found)
        ]
        if not symptoms:
            return []
        flagged = {f.layer for f in found if f.kind == SATURATED_UNITS}
        return [
            self.saturation.finding(record, stats, " and ".join(symptoms))
            for stats in self.saturation.saturated(record)
            if stats.name not in flagged
        ]

    def observe_epoch_loss(self, loss: float | None) -> None:
        """Adds an epoch's training loss for the loss-progress rules."""
        if self.loss_progress is not None:
            self._contained(self.loss_progress.observe, None, loss)

    def spikes(
        self, epoch: int, step_losses: Iterable[tuple[int, float]]
    ) -> list[Finding]:
        """The loss spikes among `(step, loss)` pairs, in step order."""
        if self.spike_detector is None:
            return []
        update = self.spike_detector.update
        return [
            finding
            for step, loss in step_losses
            for finding in self._contained(update, [], epoch, step, loss)
        ]
