"""Running Python code after each training step without a batch callback.

Defining `on_train_batch_end` makes Keras convert the logs of every step to
Python numbers and give up dispatching batch callbacks asynchronously, which
costs several percent of training time on small steps. Wrapping the model's
`train_function` (called once per execution of `steps_per_execution` steps)
costs one Python call per execution instead, and runs the hook right after
the step, before the next one starts.

On JAX the train function is `train_function(state, data) -> (logs,
state)`, and `fit` keeps the state to itself until a callback asks for the
model: the hook hands the new state to the model first (as `fit` does just
after the call), so that anything the hook reads or assigns, through
`Callback.model`'s sync or `model.jax_state_sync()`, is this step's state,
never the previous step's donated (deleted) arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from keras_trainwatch import _keras_compat


class TrainStepHook:
    """Calls `after_execution(logs)` after every call of
    `model.train_function`.

    Args:
        after_execution: Called after each execution with the logs the train
            function returned (tensors, still on the device).

    Example:

    ```python
    hook = TrainStepHook(lambda logs: print("a step ran"))
    hook.install(model)   # in on_epoch_begin: fit has made its train function
    ...
    hook.remove(model)    # in on_train_end
    ```
    """

    def __init__(self, after_execution: Callable[[Any], None]):
        self._after_execution = after_execution
        self._wrapper = None

    def install(self, model: keras.Model) -> None:
        """Wraps `model.train_function`, unless it is wrapped by this hook
        already (Keras may have replaced it since, e.g. after recompiling)."""
        current = model.train_function
        if current is None or current is self._wrapper:
            return
        hook = self

        def train_function(*args):
            result = current(*args)
            if hook._wrapper is train_function:
                if _keras_compat.returns_jax_state(result):
                    logs, state = result
                    _keras_compat.hand_jax_state(model, state)
                else:
                    logs = result
                hook._after_execution(logs)
            return result

        train_function.wrapped = current
        self._wrapper = train_function
        model.train_function = train_function

    def remove(self, model: keras.Model) -> None:
        """Unwraps `model.train_function` (if something wrapped it again
        since, the wrapper stays but does nothing)."""
        wrapper, self._wrapper = self._wrapper, None
        _keras_compat.forget_jax_state(model)
        if wrapper is not None and model.train_function is wrapper:
            model.train_function = wrapper.wrapped
