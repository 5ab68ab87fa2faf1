"""The last healthy state of a model and its optimizers, to roll back to."""

from __future__ import annotations

import math
import os
import re
import tempfile

import keras
import numpy as np

from keras_trainwatch import _keras_compat
from keras_trainwatch._host import to_numpy
from keras_trainwatch.learning_rate import optimizers_of

# With `rollback="auto"`, the largest snapshot kept in memory: about 270
# million float32 values of weights and optimizer state (ResNet50 with Adam
# holds 293 MiB, copied in about a second on a 2-core CPU, once per epoch;
# benchmarks/rescue.py).
AUTO_ROLLBACK_MAX_BYTES = 2**30


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
        # On JAX, mid-epoch, the training state is put on the variables
        # first: read or assigned, they are then this step's.
        _keras_compat.sync_model_state(self._model)
        variables = list(self._model.variables)
        for optimizer in optimizers_of(self._model):
            # The step count moves on: schedules, probes and logs keep a
            # monotonic step axis across a rollback.
            step_counter = optimizer.iterations
            variables += [
                v for v in optimizer.variables if v is not step_counter
            ]
        return variables

    def nbytes(self) -> int:
        """The bytes one copy holds, counted from the variables' shapes and
        dtypes (nothing is copied)."""
        return sum(
            math.prod(v.shape) * _itemsize(v.dtype) for v in self._variables()
        )

    def take(self) -> bool:
        """Copies the current state, unless some of it is non-finite (an
        update can overflow the weights while the loss before it was
        finite): no such state is healthy.

        Returns:
            Whether the copy was taken.
        """
        values = [to_numpy(v) for v in self._variables()]
        if not all(np.isfinite(v).all() for v in values if v.dtype.kind == "f"):
            return False
        if self._path is None:
            self._values = values
        else:
            np.savez(self._path, *values)
        self.taken = True
        return True

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


class Rollback:
    """Rolling back to the last healthy state, a bounded number of times.

    Keras keeps `TerminateOnNaN` and `BackupAndRestore` apart; this is the
    piece of `AutoLRReducer` that remembers the last healthy state, restores
    it when training turns non-finite, and gives up after `max_rollbacks`.

    Args:
        max_rollbacks: Integer >= 1. Rollbacks allowed in one `fit`.
        directory: `None` to keep the snapshot in memory, or a directory to
            keep it on disk.

    Example:

    ```python
    rollback = Rollback(max_rollbacks=3)
    rollback.start(model)           # on_train_begin
    rollback.checkpoint()           # after a healthy epoch
    if not rollback.restore(step):  # training turned NaN at `step`
        model.stop_training = True  # gave up: healthy weights restored
    ```
    """

    def __init__(self, max_rollbacks: int, directory: str | None = None):
        self.max_rollbacks = max_rollbacks
        self.directory = directory
        self.count = 0
        self.last_step: int | None = None
        self._snapshot: HealthySnapshot | None = None

    def fits_automatically(self, model: keras.Model) -> tuple[bool, int]:
        """Whether `rollback="auto"` keeps a snapshot of `model`: always on
        disk (a `directory`), in memory up to `AUTO_ROLLBACK_MAX_BYTES`.

        Returns:
            The answer and the snapshot's size in bytes.
        """
        size = HealthySnapshot(model).nbytes()
        return (
            self.directory is not None or size <= AUTO_ROLLBACK_MAX_BYTES,
            size,
        )

    def start(self, model: keras.Model) -> None:
        """Starts a `fit`: counts from zero and takes the first snapshot."""
        self.count = 0
        self.last_step = None
        self._snapshot = HealthySnapshot(model, self.directory)
        self._snapshot.take()

    def checkpoint(self) -> None:
        """Takes the current state as the last healthy one."""
        if self._snapshot is not None:
            self._snapshot.take()

    def restore(self, step: int) -> bool:
        """Restores the last healthy state.

        Args:
            step: The training step at which training failed.

        Returns:
            `True` for a rollback within `max_rollbacks` (counted), `False`
            when the budget is spent (the state is restored all the same, and
            the caller should stop training).
        """
        self._snapshot.restore()
        if self.count >= self.max_rollbacks:
            return False
        self.count += 1
        self.last_step = step
        return True

    def finish(self) -> None:
        """Ends the `fit`: frees the snapshot."""
        if self._snapshot is not None:
            self._snapshot.discard()
            self._snapshot = None

    def __deepcopy__(self, memo):
        twin = Rollback(self.max_rollbacks, self.directory)
        memo[id(self)] = twin
        return twin


def _itemsize(dtype) -> int:
    """Bytes per element of a Keras dtype name ("float32", "bfloat16",
    "bool")."""
    bits = re.search(r"\d+", str(dtype))
    return 1 if bits is None else max(1, int(bits.group()) // 8)
