"""A small real dataset that ships with the package, so demos and tests run
offline."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 10


def load_digits(flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Loads the UCI handwritten digits (1797 8x8 images, 10 classes).

    Pixels are scaled to [0, 1]; see `keras_trainwatch/data/README.md` for
    the source and licence.

    Args:
        flatten: If `True` (default), images come as vectors of 64 values;
            if `False`, as arrays of shape `(8, 8, 1)` for convolutions.

    Returns:
        `(x, y)`: float32 images and int32 labels in 0..9.

    Example:

    ```python
    x, y = keras_trainwatch.datasets.load_digits()
    x.shape  # (1797, 64)
    ```
    """
    path = resources.files("keras_trainwatch") / "data" / "digits.csv.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    x = table[:, :-1] / 16.0
    y = table[:, -1].astype(np.int32)
    if not flatten:
        x = x.reshape((-1,) + IMAGE_SHAPE)
    return x, y
