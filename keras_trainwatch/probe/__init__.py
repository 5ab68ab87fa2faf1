"""The compiled gradient probe: model + batch -> named per-layer
statistics, on every Keras backend.

`batch` (the fixed probe batch), `layout` (which layer owns which variable,
which layers can be checked for dead units; its parts in `layer_parts`),
`forward` (the stateless forward pass and loss, written once),
`reductions` (device-side reductions in `keras.ops`), `statistics` (the
named tensors and the record they become), `errors` (the model's failures
told from ours), `backends` (the gradient call, compilation and host read
of TensorFlow, JAX and PyTorch) and `build` (making one for a model).
`GradientProbe` is the running backend's probe class, chosen at import as
`keras.Variable` is.
"""

from keras_trainwatch.probe.backends import probe_class
from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.build import build_probe
from keras_trainwatch.probe.errors import (
    MODEL_ERRORS,
    MissingLossError,
    ModelComputationError,
)
from keras_trainwatch.probe.layout import ModelLayout

GradientProbe = probe_class()

__all__ = [
    "MODEL_ERRORS",
    "GradientProbe",
    "MissingLossError",
    "ModelComputationError",
    "ModelLayout",
    "ProbeBatch",
    "build_probe",
]
