"""The rules that turn what the watch measures into findings, one rule a
module, each of one of four kinds (`base.py`):

- a `Detector` is pure: `detector(record, recent) -> list[Finding]` on plain
  `ProbeRecord`s (no TensorFlow), where `recent` holds at most
  `detector.history_size` earlier records, oldest first (vanishing,
  exploding, dead ReLU, no gradient, saturation, symmetry);
- a `LossCourseRule` is told each epoch's loss and judged at each probe
  (`LossProgressDetector`);
- a `StepRule` is fed the per-step losses (`SpikeDetector`);
- a `ModelCheck` is computed once from the model (`ModelChecks`).

The stateful ones keep bounded windows, so watching stays bounded in memory
however long the run.

The default thresholds sit beyond the worst values of the healthy runs of
the benchmarks, and every broken case crosses them: the figures are in
docs/detectors.md and on each benchmark's page under docs/benchmarks/.
"""

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
from keras_trainwatch.detectors.loss_progress import LossProgressDetector
from keras_trainwatch.detectors.loss_spike import SpikeDetector
from keras_trainwatch.detectors.model_checks import ModelChecks, check_model
from keras_trainwatch.detectors.no_gradient import NoGradientDetector
from keras_trainwatch.detectors.remedies import RemedyAdvisor
from keras_trainwatch.detectors.saturation import SaturationDetector
from keras_trainwatch.detectors.suite import DetectorSuite
from keras_trainwatch.detectors.symmetry import SymmetricUnitsDetector
from keras_trainwatch.detectors.vanishing import VanishingGradientDetector

__all__ = [
    "CauseLinker",
    "DeadReluDetector",
    "Detector",
    "DetectorSuite",
    "ExplodingGradientDetector",
    "LossCourseRule",
    "LossProgressDetector",
    "ModelCheck",
    "ModelChecks",
    "NoGradientDetector",
    "RemedyAdvisor",
    "SaturationDetector",
    "SpikeDetector",
    "StepRule",
    "SymmetricUnitsDetector",
    "VanishingGradientDetector",
    "chance_loss",
    "check_model",
]
