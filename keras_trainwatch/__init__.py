"""keras_trainwatch: see and fix neural-network training failures while
`model.fit` runs.

The public names below are imported on first use, so that the `trainwatch`
command answers `--help` without loading TensorFlow. The classes a saved
model may name (`ScaledSchedule`, `layers.Block`) are registered with Keras
as soon as Keras is imported, before or after this package
(`_registration.py`), so that `keras.models.load_model` finds them in any
process that imports the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from keras_trainwatch import _registration

__version__ = "0.1.0"

_EXPORTS = {
    "layers": None,
    "models": None,
    "AutoLRReducer": "reducer",
    "Reduction": "reducer",
    "TrainingDivergedError": "reducer",
    "DEAD_RELU": "findings",
    "EXPLODING_GRADIENTS": "findings",
    "KINDS": "findings",
    "LOSS_SPIKE": "findings",
    "REMEDIES": "findings",
    "VANISHING_GRADIENTS": "findings",
    "Finding": "findings",
    "DeadReluDetector": "detectors",
    "ExplodingGradientDetector": "detectors",
    "SpikeDetector": "detectors",
    "SaturationDetector": "detectors",
    "SymmetricUnitsDetector": "detectors",
    "LossProgressDetector": "detectors",
    "NoGradientDetector": "detectors",
    "CauseLinker": "detectors",
    "VanishingGradientDetector": "detectors",
    "DeadUnitStats": "records",
    "LayerStats": "records",
    "ProbeRecord": "records",
    "TimeGradientStats": "records",
    "WeightStats": "records",
    "GradientProbe": "probe",
    "ProbeBatch": "probe",
    "GradientWatch": "watch",
    "WatchUpdate": "watch",
    "HealthySnapshot": "reducer.rollback",
    "Rollback": "reducer.rollback",
    "PlateauCounter": "reducer.plateau",
    "ScaledSchedule": "learning_rate",
    "TrainingPathologyError": "watch",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(
            f"module 'keras_trainwatch' has no attribute {name!r}"
        )
    module = _EXPORTS[name]
    if module is None:
        value = importlib.import_module(f"keras_trainwatch.{name}")
    else:
        value = getattr(
            importlib.import_module(f"keras_trainwatch.{module}"), name
        )
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


_registration.register_with_keras()

if TYPE_CHECKING:  # what type checkers and IDEs see
    from keras_trainwatch import layers, models  # noqa: F401
    from keras_trainwatch.detectors import (  # noqa: F401
        CauseLinker,
        DeadReluDetector,
        ExplodingGradientDetector,
        LossProgressDetector,
        NoGradientDetector,
        SaturationDetector,
        SpikeDetector,
        SymmetricUnitsDetector,
        VanishingGradientDetector,
    )
    from keras_trainwatch.findings import (  # noqa: F401
        DEAD_RELU,
        EXPLODING_GRADIENTS,
        KINDS,
        LOSS_SPIKE,
        REMEDIES,
        VANISHING_GRADIENTS,
        Finding,
    )
    from keras_trainwatch.learning_rate import ScaledSchedule  # noqa: F401
    from keras_trainwatch.probe import GradientProbe, ProbeBatch  # noqa: F401
    from keras_trainwatch.records import (  # noqa: F401
        DeadUnitStats,
        LayerStats,
        ProbeRecord,
        TimeGradientStats,
        WeightStats,
    )
    from keras_trainwatch.reducer import (  # noqa: F401
        AutoLRReducer,
        Reduction,
        TrainingDivergedError,
    )
    from keras_trainwatch.reducer.plateau import PlateauCounter  # noqa: F401
    from keras_trainwatch.reducer.rollback import HealthySnapshot, Rollback  # noqa: F401
    from keras_trainwatch.watch import (  # noqa: F401
        GradientWatch,
        TrainingPathologyError,
        WatchUpdate,
    )
