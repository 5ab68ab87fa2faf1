"""The rules that turn per-probe statistics into findings, one rule a module.

Each detector is a small callable working on plain `ProbeRecord`s (no
TensorFlow), so it can be tested, tuned and reused on its own:
`detector(record, recent) -> list[Finding]`, where `recent` holds the
latest earlier records of the run, oldest first: at most
`detector.history_size` of them, which is all the state a rule may keep, so
watching stays bounded in memory however long the run.

The default thresholds come from the pathology suite
(`benchmarks/pathology_suite.py`, summarized in the README): over its 22
healthy controls (probed every 10 steps for 3 epochs), every layer's relative
gradient |g|/|w| stayed above 6.2e-3 times the largest one above it,
per-layer gradient norms below 12, the growth of a layer's gradient norm
over five probes below 10x, and the dead share of a ReLU layer at or below
34%; all 21 broken cases crossed a threshold at the first probe where an
independent measurement showed the fault.
"""

from keras_trainwatch.detectors.base import Detector
from keras_trainwatch.detectors.causes import CauseLinker
from keras_trainwatch.detectors.dead_relu import DeadReluDetector
from keras_trainwatch.detectors.exploding import ExplodingGradientDetector
from keras_trainwatch.detectors.loss_progress import (
    LossProgressDetector,
    chance_loss,
)
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
    "LossProgressDetector",
    "ModelChecks",
    "NoGradientDetector",
    "RemedyAdvisor",
    "SaturationDetector",
    "SpikeDetector",
    "SymmetricUnitsDetector",
    "VanishingGradientDetector",
    "chance_loss",
    "check_model",
]
