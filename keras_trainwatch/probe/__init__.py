"""The compiled GradientTape probe: model + batch -> named per-layer
statistics.

`batch` (the fixed probe batch), `layout` (which layer owns which variable,
which layers can be checked for dead units; its parts in `layer_parts`),
`gradient_pass` (one stateless forward and backward pass), `reductions`
(device-side reductions),
`statistics` (the named tensors and the record they become), `errors`
(the model's failures told from ours), `probe` (the compiled function that
ties them together) and `build` (making one for a model).
"""

from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.build import build_probe
from keras_trainwatch.probe.errors import (
    MODEL_ERRORS,
    MissingLossError,
    ModelComputationError,
)
from keras_trainwatch.probe.layout import ModelLayout
from keras_trainwatch.probe.probe import GradientProbe

__all__ = [
    "MODEL_ERRORS",
    "GradientProbe",
    "MissingLossError",
    "ModelComputationError",
    "ModelLayout",
    "ProbeBatch",
    "build_probe",
]
