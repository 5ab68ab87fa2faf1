"""Reading values to the host without NumPy 2's copy-keyword warning, which
tensors and variables raise when NumPy converts them itself (an error under
`python -W error`)."""

from __future__ import annotations

import keras
import numpy as np


def to_numpy(value) -> np.ndarray:
    """`value` (a Keras variable, a tensor or a number) as a numpy array."""
    if isinstance(value, keras.Variable):
        value = value.value
    if hasattr(value, "numpy"):  # eager tensors and TensorFlow variables
        return np.asarray(value.numpy())
    return np.asarray(value)
