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
from keras_trainwatch.on_finding import TrainingPathologyError
from keras_trainwatch.plateau import PlateauCounter
from keras_trainwatch.probe import GradientProbe, ProbeBatch
from keras_trainwatch.reducer import (
    AutoLRReducer,
    Reduction,
    TrainingDivergedError,
)
from keras_trainwatch.rollback import HealthySnapshot, Rollback
from keras_trainwatch.records import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    TimeGradientStats,
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
    "HealthySnapshot",
    "PlateauCounter",
    "Rollback",
    "GradientProbe",
    "GradientWatch",
    "LayerStats",
    "ProbeBatch",
    "ProbeRecord",
    "TimeGradientStats",
    "Reduction",
    "ScaledSchedule",
    "TrainingDivergedError",
    "TrainingPathologyError",
    "VanishingGradientDetector",
    "WeightStats",
]
