"""Checking a model's state before anything saves it during `fit`.

`keras.callbacks.ModelCheckpoint` saves with `model.save` or
`model.save_weights`, and `keras.callbacks.BackupAndRestore` with
`model.save_weights`, from their own batch or epoch callbacks, which another
callback cannot see or order itself before. The reducer reads the loss in
batches, not after every step, so a step-frequency checkpoint could come
between a non-finite step and the read that shows it. Wrapping the two
methods on the model (for the `fit` only) makes every save wait for that
check: a rollback first, then the save of the healthy state, or an error
and no save.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._host import to_numpy
from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.learning_rate import optimizers_of

SAVING_METHODS = ("save", "save_weights")


class SaveGuard:
    """Calls `before_save()` before every `model.save` and
    `model.save_weights` while installed.

    Args:
        before_save: Called with no arguments before the save; what it
            raises ends the save before anything is written.

    Example:

    ```python
    guard = SaveGuard(check_the_weights)
    guard.install(model)   # on_train_begin
    ...                    # ModelCheckpoint saves: the check runs first
    guard.remove(model)    # on_train_end
    ```
    """

    def __init__(self, before_save: Callable[[], None]):
        self._before_save = before_save
        self._wrappers: dict = {}

    def install(self, model: keras.Model) -> None:
        """Wraps the model's saving methods (once)."""
        for name in SAVING_METHODS:
            if self._wrappers.get(name) is None:
                self._wrappers[name] = self._guarded(getattr(model, name))
                setattr(model, name, self._wrappers[name])

    def _guarded(self, saving):
        def guarded(*args, **kwargs):
            self._before_save()
            return saving(*args, **kwargs)

        return guarded

    def remove(self, model: keras.Model) -> None:
        """Unwraps the saving methods (only those still ours)."""
        for name, wrapper in self._wrappers.items():
            if wrapper is not None and vars(model).get(name) is wrapper:
                delattr(model, name)
        self._wrappers = {}

    def __deepcopy__(self, memo):
        twin = deepcopy_without(self, memo, unbound=("_wrappers",))
        twin._wrappers = {}
        return twin


def weights_finite(model: keras.Model) -> bool:
    """Whether every floating-point variable of the model and its optimizer
    is finite (one reduction on the device, one host read).

    Args:
        model: The model being trained.
    """
    _keras_compat.sync_model_state(model)
    variables = list(model.variables)
    for optimizer in optimizers_of(model):
        variables += list(optimizer.variables)
    checks = [
        keras.ops.all(keras.ops.isfinite(v.value))
        for v in variables
        if "float" in str(v.dtype)
    ]
    if not checks:
        return True
    return bool(to_numpy(keras.ops.all(keras.ops.stack(checks))))
