"""The last healthy state of a model and its optimizers, to roll back to."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np

from keras_trainwatch.learning_rate import optimizers_of


class HealthySnapshot:
    """A copy of every variable training changes: the model's (weights,
    batch-norm statistics, seed states) and its optimizers' (slots,
    learning-rate variables), but not the optimizers' step counts.

    Args:
        model: The model being trained.
        directory: `None` (default) to keep the copy in memory, or a
            directory to keep it on disk (`healthy_snapshot.npz`) for models
            too big to copy in memory.

    Example:

    ```python
    snapshot = HealthySnapshot(model)
    snapshot.take()
    ...  # training goes wrong
    snapshot.restore()
    ```
    """

    def __init__(self, model: keras.Model, directory: str | None = None):
        self._model = model
        self._path = None
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            handle, self._path = tempfile.mkstemp(
                prefix="healthy_snapshot_", suffix=".npz", dir=directory
            )
            os.close(handle)
        self._values: list[np.ndarray] | None = None
        self.taken = False

    def _variables(self):
        variables = list(self._model.variables)
        for optimizer in optimizers_of(self._model):
            # The step count moves on: schedules, probes and logs keep a
            # monotonic step axis across a rollback.
            step_counter = optimizer.iterations
            variables += [
                v for v in optimizer.variables if v is not step_counter
            ]
        return variables

    def take(self) -> None:
        """Copies the current state."""
        values = [keras.ops.convert_to_numpy(v) for v in self._variables()]
        if self._path is None:
            self._values = values
        else:
            np.savez(self._path, *values)
        self.taken = True

    def restore(self) -> None:
        """Puts the copied state back into the model and its optimizers.

        Raises:
            RuntimeError: If no snapshot was taken.
        """
        if not self.taken:
            raise RuntimeError("HealthySnapshot.restore() before take().")
        if self._path is None:
            values = self._values
        else:
            with np.load(self._path) as stored:
                values = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        for variable, value in zip(self._variables(), values):
            variable.assign(value)

    def discard(self) -> None:
        """Frees the copy (and deletes its file)."""
        self._values = None
        self.taken = False
        if self._path is not None and os.path.exists(self._path):
            os.remove(self._path)
