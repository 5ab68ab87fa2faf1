"""The gradient call, compilation and host read of each Keras backend.

`tensorflow/` keeps the `tf.GradientTape` probe (`tf.function`,
`tf.distribute`, sparse gradients, the setup tuning); `jax.py` and
`torch.py` are the engines of `functional.FunctionalProbe`. Everything
else the probe does (the forward pass, the layer outputs, the reductions
and the record) is shared.
"""

from __future__ import annotations

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def check_backend() -> None:
    """Fails unless the running Keras backend has a probe.

    Raises:
        ValueError: On a backend the probe does not support (`numpy`, or one
            newer than this package).
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(
            "GradientWatch computes gradients with the Keras backend, and "
            f"backend '{backend}' has none it can use. Expected one of "
            f"{', '.join(BACKENDS)} (set KERAS_BACKEND)."
        )


def probe_class() -> type:
    """The probe class of the running Keras backend (a model and a batch in,
    a callable that probes out)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_trainwatch.probe.backends.tensorflow.probe import (
            TensorFlowProbe,
        )

        return TensorFlowProbe
    if backend == "jax":
        from keras_trainwatch.probe.backends.jax import JaxProbe

        return JaxProbe
    if backend == "torch":
        from keras_trainwatch.probe.backends.torch import TorchProbe

        return TorchProbe
    return _UnsupportedBackend


class _UnsupportedBackend:
    def __init__(self, *args, **kwargs):
        check_backend()
