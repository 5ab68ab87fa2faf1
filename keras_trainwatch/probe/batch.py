"""The fixed batch the probe measures gradients on."""

from __future__ import annotations

import collections.abc
import dataclasses
import sys
from typing import Any

import keras
import numpy as np

from keras_trainwatch._host import to_numpy


@dataclasses.dataclass(frozen=True)
class ProbeBatch:
    """A fixed probe batch as tensors.

    Args:
        x: Model inputs (a tensor, or a list/dict of tensors).
        y: Targets, or `None`.
        sample_weight: Sample weights, or `None`.
    """

    x: Any
    y: Any
    sample_weight: Any

    @property
    def size(self) -> int:
        """Number of samples in the batch."""
        return int(keras.tree.flatten(self.x)[0].shape[0])

    @property
    def input_scale(self) -> float:
        """Root mean square of the floating-point inputs (1.0 if none)."""
        scale = _root_mean_square(self.x)
        return 1.0 if scale is None else scale

    @property
    def target_scale(self) -> float | None:
        """Root mean square of the floating-point targets (`None` if none)."""
        return _root_mean_square(self.y)

    @classmethod
    def from_data(cls, probe_data: Any) -> ProbeBatch:
        """Builds the batch from what users pass as `probe_data`.

        Args:
            probe_data: `(x, y)` or `(x, y, sample_weight)` (numpy arrays or
                tensors, any structure the model takes), a `tf.data.Dataset`
                (its first batch is taken), a `keras.utils.PyDataset` (its
                batch 0) or a generator/iterator (its next batch).

        Returns:
            A `ProbeBatch`.

        Raises:
            TypeError: If `probe_data` has none of these forms.
            ValueError: If the batch is empty or its parts disagree on the
                number of samples.
        """
        if _is_tf_dataset(probe_data):
            element = next(iter(probe_data.take(1)), None)
            if element is None:
                raise ValueError(
                    "Argument `probe_data` is an empty tf.data.Dataset; it "
                    "must yield at least one batch."
                )
            probe_data = element
        elif isinstance(probe_data, keras.utils.PyDataset):
            probe_data = probe_data[0]
        elif isinstance(probe_data, collections.abc.Iterator):
            # A generator: its next batch (consumed: pass a separate one from
            # the training generator).
            probe_data = next(probe_data, None)
            if probe_data is None:
                raise ValueError(
                    "Argument `probe_data` is an exhausted iterator; it must "
                    "yield at least one batch."
                )
        if (
            not isinstance(probe_data, (tuple, list))
            or not 1 <= len(probe_data) <= 3
        ):
            raise TypeError(
                "Argument `probe_data` must be a tuple `(x, y)` or "
                "`(x, y, sample_weight)`, a tf.data.Dataset, a "
                "keras.utils.PyDataset or a generator of such tuples. Received: "
                f"probe_data of type {type(probe_data).__name__}"
            )
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            tuple(probe_data)
        )
        batch = cls(
            x=_to_tensors(x),
            y=_to_tensors(y),
            sample_weight=_to_tensors(sample_weight),
        )
        batch._check_sizes()
        return batch

    def at_most(self, samples: int | None) -> ProbeBatch:
        """This batch, or `samples` of its samples spread evenly over it
        (first and last included) when it holds more: data sorted by class
        or by time keeps its range.

        Args:
            samples: `None` (keep all) or an integer >= 1.
        """
        if samples is None or self.size <= samples:
            return self
        indices = np.linspace(0, self.size - 1, samples).round().astype("int32")

        def take(structure):
            return keras.tree.map_structure(
                lambda t: None if t is None else keras.ops.take(t, indices, 0),
                structure,
            )

        return ProbeBatch(take(self.x), take(self.y), take(self.sample_weight))

    def _check_sizes(self):
        sizes = {
            part: {int(t.shape[0]) for t in keras.tree.flatten(value)}
            for part, value in (
                ("x", self.x),
                ("y", self.y),
                ("sample_weight", self.sample_weight),
            )
            if value is not None
        }
        all_sizes = set().union(*sizes.values())
        if len(all_sizes) > 1:
            raise ValueError(
                "Argument `probe_data` must have the same number of samples "
                "in x, y and sample_weight. Received sizes: "
                + ", ".join(f"{k}={sorted(v)}" for k, v in sizes.items())
            )
        if all_sizes == {0}:
            raise ValueError(
                "Argument `probe_data` is empty; it needs at least one sample."
            )


def _root_mean_square(structure) -> float | None:
    """The RMS of the finite entries of the floating-point tensors in
    `structure`, or `None` when it holds none."""
    squares, count = 0.0, 0
    for tensor in keras.tree.flatten(structure):
        if tensor is None or not keras.backend.is_float_dtype(
            keras.backend.standardize_dtype(tensor.dtype)
        ):
            continue
        values = to_numpy(tensor).astype(np.float64)
        values = values[np.isfinite(values)]
        squares += float(np.sum(values**2))
        count += values.size
    return float(np.sqrt(squares / count)) if count else None


def _is_tf_dataset(value) -> bool:
    # Only a program that imported TensorFlow can hold a tf.data.Dataset.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def _to_tensors(structure):
    if structure is None:
        return None

    def convert(value):
        if value is None:
            return None
        if isinstance(value, np.ndarray) and np.issubdtype(
            value.dtype, np.floating
        ):
            value = value.astype(keras.backend.floatx())
        tensor = keras.ops.convert_to_tensor(value)
        if len(tensor.shape) == 0:
            raise ValueError(
                "Argument `probe_data` must hold batched arrays (a leading "
                f"sample axis). Received a scalar: {value!r}"
            )
        return tensor

    return keras.tree.map_structure(convert, structure)
