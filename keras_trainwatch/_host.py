"""Reading values to the host, on every Keras backend, without NumPy 2's
copy-keyword warning, which TensorFlow tensors and variables raise when
NumPy converts them itself (an error under `python -W error`)."""

from __future__ import annotations

import keras
import numpy as np


def to_numpy(value) -> np.ndarray:
    """`value` (a Keras variable, a tensor of any backend or a number) as a
    numpy array."""
    if isinstance(value, keras.Variable):
        value = value.value
    if isinstance(value, (int, float, bool, np.ndarray, np.generic)):
        return np.asarray(value)
    if hasattr(value, "numpy") and keras.backend.backend() == "tensorflow":
        return np.asarray(value.numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))
