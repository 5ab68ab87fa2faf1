"""Telling a failure of the user's model from a failure of the probe's own
code.

Only the first may end probing quietly (a model that cannot run on the probe
batch, a probe batch that does not fit, memory the model needs): the second
is a bug of keras_trainwatch and must surface (see `_internal_errors.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras


class MissingLossError(ValueError):
    """The model has no loss whose gradients could be measured."""


class ModelComputationError(RuntimeError):
    """The user's model failed on the probe batch (its layers, its loss).

    Args:
        what: What was being computed, e.g. `"the forward pass"`.
        error: The model's exception (also the `__cause__`).
    """

    def __init__(self, what: str, error: BaseException):
        super().__init__(f"{what} failed with {type(error).__name__}: {error}")
        self.error = error


def _backend_runtime_errors() -> tuple[type[BaseException], ...]:
    """What the backend raises while a compiled probe runs the model's
    operations (labels out of range, memory exhausted)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return (tf.errors.OpError,)
    if backend == "jax":
        import jax

        return (jax.errors.JaxRuntimeError,)
    if backend == "torch":
        import torch

        return (torch.cuda.OutOfMemoryError,)
    return ()


# Errors of the model's computation: raised while running Python code of the
# model (wrapped above), or by the backend while the probe runs the model's
# operations.
MODEL_ERRORS = (ModelComputationError, *_backend_runtime_errors())


@contextlib.contextmanager
def model_computation(what: str) -> Iterator[None]:
    """Marks the errors raised inside as the model's own.

    Args:
        what: What the model computes inside, for the message.

    Raises:
        ModelComputationError: For any exception raised inside, except the
            probe's own `MissingLossError`.
    """
    try:
        yield
    except (MissingLossError, ModelComputationError):
        raise
    except Exception as error:
        raise ModelComputationError(what, error) from error
