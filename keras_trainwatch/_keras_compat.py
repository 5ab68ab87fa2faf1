"""Every use of a Keras private API, in one place.

Keras 3 keeps several things the watch needs out of its public API: walking a
model's sublayers, following its functional graph, building a model the way
`fit` does, the compiled loss, a raw learning-rate schedule. Each is reached
here and nowhere else, so that a Keras release that moves one of them breaks
one function, which `tests/test_keras_compat.py` exercises against the oldest
and newest Keras of the supported range (`setup.cfg`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any, Literal

import keras
from keras.src import backend as _backend
from keras.src.models.functional import Functional as _Functional
from keras.src.trainers import compile_utils as _compile_utils
from keras.src.utils import io_utils as _io_utils
from keras.src.utils import naming as _naming


def child_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The direct sublayers of `layer` (for a model, its layers; for a custom
    layer, the layers it holds as attributes)."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """`model` and every layer below it, at any depth."""
    return iter(model._flatten_layers(include_self=True, recursive=True))


def graph_io(model: keras.Model) -> tuple[Any, Any] | None:
    """The `(inputs, outputs)` of the model's functional graph, or `None`.

    Only Sequential and functional models that keep Keras's own `call` are
    followed: a subclass that overrides `call` may not run its graph.
    """
    if type(model).call is keras.Sequential.call:
        try:
            return model.inputs[0], model.outputs[0]
        except (AttributeError, IndexError):
            return None
    if type(model).call is _Functional.call:
        return model.input, model.output
    return None


def producer(tensor) -> tuple[Any, Any] | None:
    """`(operation, node)`: the layer call that produced a symbolic tensor,
    or `None` for a tensor no layer produced (a constant, a model input)."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    operation, node_index, _ = history
    return operation, operation._inbound_nodes[node_index]


# Where `keras.callbacks.Callback` keeps its model: its `model` property
# raises before `set_model` on some Keras versions.
CALLBACK_MODEL_ATTRIBUTE = "_model"


def callback_model(callback: keras.callbacks.Callback):
    """The model `callback` is attached to, or `None` before `set_model`."""
    return getattr(callback, CALLBACK_MODEL_ATTRIBUTE, None)


def keras_mask(tensor):
    """The Keras mask carried by `tensor`, or `None`."""
    return _backend.get_keras_mask(tensor)


def compiled_loss(model: keras.Model):
    """The loss `model.compile(loss=...)` set up, or `None`."""
    return getattr(model, "_compile_loss", None)


def compiled_metrics(model: keras.Model):
    """The metrics container `model.compile(metrics=...)` set up, or `None`."""
    return getattr(model, "_compile_metrics", None)


def needs_build(model: keras.Model) -> bool:
    """Whether some layer, the compiled loss or the compiled metrics are
    still unbuilt (TensorFlow's `fit` builds them while tracing the first
    training step)."""
    parts = [compiled_loss(model), compiled_metrics(model)]
    return not all(layer.built for layer in all_layers(model)) or any(
        part is not None and not part.built for part in parts
    )


def build_like_fit(model: keras.Model, batch: tuple) -> None:
    """Builds the model, its compiled loss and metrics symbolically on the
    shapes of `batch` = `(x, y, sample_weight)`, as Keras does under a
    distribution strategy: the same variables, in the same order, with the
    same initial values as `fit` would create. The optimizer's state, which
    Keras builds last, is left to `build_optimizer`."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built:
        model._symbolic_build(data_batch=batch)
        return
    # Keras's symbolic build builds every unbuilt part: it skips an
    # optimizer that says it is built.
    optimizer.built = True
    try:
        model._symbolic_build(data_batch=batch)
    finally:
        optimizer.built = False


def build_optimizer(model: keras.Model) -> None:
    """Builds the optimizer's state for the model's trainable variables, as
    Keras's symbolic build ends (nothing if built already)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)


def has_own_loss(model: keras.Model) -> bool:
    """Whether the model computes a loss without `compile(loss=...)`: an
    overridden `compute_loss` or `train_step` may bring its own."""
    return type(model).compute_loss is not keras.Model.compute_loss


def compute_loss(model: keras.Model, x, y, y_pred, sample_weight):
    """The model's loss in training mode, regularization included.

    Keras's private `_compute_loss` copes with `compute_loss` overrides that
    predate the `training` argument (Keras < 3.3 signatures).
    """
    compute = getattr(model, "_compute_loss", None)
    if compute is None:
        return model.compute_loss(x, y, y_pred, sample_weight)
    return compute(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
    )


def raw_learning_rate(optimizer: keras.optimizers.Optimizer):
    """The optimizer's learning rate as given: a variable, a
    `LearningRateSchedule` or a callable (the public `learning_rate`
    evaluates a schedule at the current step)."""
    return optimizer._learning_rate


def metric_direction(
    model: keras.Model, name: str
) -> Literal["up", "down"] | None:
    """Whether the compiled metric `name` improves going up or down, as Keras
    records it, or `None` when Keras does not say."""
    containers = (_compile_utils.CompileMetrics, _compile_utils.MetricsList)
    direction = None
    for container in getattr(model, "metrics", []):
        if not isinstance(container, containers):
            continue
        for metric in container.metrics:
            if metric.name == name and hasattr(metric, "_direction"):
                direction = "up" if metric._direction == "up" else "down"
    return direction


def print_msg(message: str) -> None:
    """Prints like Keras's own callbacks (through absl logging when Keras is
    set to, else to stdout)."""
    _io_utils.print_msg(message)


def has_default_name(obj) -> bool:
    """Whether `obj` (a layer, an optimizer) carries the name Keras gave it
    (`sgd`, `sgd_3`, `rm_sprop`), not one the user chose."""
    # Some classes name themselves in their signature (Keras 3.8's SGD:
    # "SGD"); the others get their class in snake case, numbered.
    parameter = inspect.signature(type(obj).__init__).parameters.get("name")
    if parameter is not None and isinstance(parameter.default, str):
        return obj.name == parameter.default
    default = _naming.to_snake_case(type(obj).__name__)
    return re.fullmatch(rf"{re.escape(default)}(_\d+)?", obj.name) is not None


def sync_model_state(model: keras.Model) -> None:
    """Puts the training state on the model's variables. JAX's `fit` keeps
    it to itself between a step and the end of the epoch (a callback's
    `self.model` syncs it; code holding the model directly calls this);
    nothing on the other backends."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


# JAX's `fit` calls `train_function(state, data) -> (logs, state)` and keeps
# the state in `model._jax_state` between a step's callbacks, syncing it to
# the variables when a callback asks for `Callback.model`.
_JAX_STATE_KEYS = (
    "trainable_variables",
    "non_trainable_variables",
    "optimizer_variables",
    "metrics_variables",
)
_HANDED: dict[int, object] = {}


def returns_jax_state(result) -> bool:
    """Whether a train function's `result` is JAX's `(logs, state)`."""
    return keras.backend.backend() == "jax" and isinstance(result, tuple)


def hand_jax_state(model: keras.Model, state: tuple) -> None:
    """Makes JAX's new training state the one the model syncs from, as
    `fit` does after the step (without syncing: that costs a Python
    assignment per variable, paid only when something reads the model).
    Once per step: with two hooks installed, the outer one must not hand
    the state over again after the inner one's callbacks synced it and
    assigned to the variables (a rate lowered, weights rolled back)."""
    # Keras copies a dict or list set on a model into tracked containers,
    # so the state handed over is remembered here, by identity (held, so
    # that its id cannot be reused by a later step's state).
    if _HANDED.get(id(model)) is state[0]:
        return
    _HANDED[id(model)] = state[0]
    model._jax_state = dict(zip(_JAX_STATE_KEYS, state))
    model._jax_state_synced = False


def forget_jax_state(model: keras.Model) -> None:
    """Drops what `hand_jax_state` holds for `model` (its hook is gone)."""
    _HANDED.pop(id(model), None)
