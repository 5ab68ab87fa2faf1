"""Registering the package's serializable classes with Keras in any process
that imports the package, without importing Keras (and TensorFlow) itself.

A model saved with a `ScaledSchedule` (what `AutoLRReducer` makes of a
learning-rate schedule) or a `layers.Block` names them
`keras_trainwatch>ScaledSchedule` and `keras_trainwatch>Block`; Keras finds
such names only in its registry, filled when the defining module runs. The
package imports its public names lazily (so that `trainwatch --help` does
not load TensorFlow), so registration is tied to Keras instead: at once when
Keras is already imported, else right after Keras's own import finishes.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys

# The modules whose classes carry `keras.saving.register_keras_serializable`.
SERIALIZABLE_MODULES = (
    "keras_trainwatch.learning_rate",
    "keras_trainwatch.layers.block",
)


def register() -> None:
    """Imports every module that registers a serializable class."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when `keras` is imported, it lets the other
    finders find it and has `register` run once Keras's module has run."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            # A failure here must not fail the user's `import keras`: the
            # classes then register when the package's names are first used.
            with contextlib.suppress(ImportError):
                register()

        spec.loader.exec_module = exec_then_register
        return spec


def register_with_keras() -> None:
    """Registers now if Keras is imported, else as soon as it is."""
    if "keras" in sys.modules:
        register()
    elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())
