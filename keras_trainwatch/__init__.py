"""keras_trainwatch: see and fix neural-network training failures while
`model.fit` runs."""

from keras_trainwatch import layers, models
from keras_trainwatch.detectors import (
    DeadReluDetector,
    ExplodingGradientDetector,
    VanishingGradientDetector,
)
from keras_trainwatch.findings import (
    DEAD_RELU,
    EXPLODING_GRADIENTS,
    KINDS,
    REMEDIES,
    VANISHING_GRADIENTS,
    Finding,
)
from keras_trainwatch.learning_rate import ScaledSchedule
from keras_trainwatch.probe import GradientProbe
from keras_trainwatch.probe_data import ProbeBatch
from keras_trainwatch.reducer import AutoLRReducer, Reduction
from keras_trainwatch.reporting import TrainingPathologyError
from keras_trainwatch.stats import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    WeightStats,
)
from keras_trainwatch.watch import GradientWatch

__version__ = "0.1.0"

__all__ = [
    "layers",
    "models",
    "AutoLRReducer",
    "DEAD_RELU",
    "EXPLODING_GRADIENTS",
    "KINDS",
    "REMEDIES",
    "VANISHING_GRADIENTS",
    "DeadReluDetector",
    "DeadUnitStats",
    "ExplodingGradientDetector",
    "Finding",
    "GradientProbe",
    "GradientWatch",
    "LayerStats",
    "ProbeBatch",
    "ProbeRecord",
    "Reduction",
    "ScaledSchedule",
    "TrainingPathologyError",
    "VanishingGradientDetector",
    "WeightStats",
]
