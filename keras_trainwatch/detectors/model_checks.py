"""Checks of how a model is put together, before any step: an output layer
that does not fit the loss, linear layers with nothing between them, a
dropout rate that leaves almost nothing. Free: they read the model's layers
and its compiled loss, not its gradients.

Kept to what a Keras model says unambiguously, so that a healthy model is
never flagged: every family of `keras.applications`, the `keras_hub`
backbones and the keras.io-style models of `benchmarks/real_models.py` pass
them silently (`tests/test_model_checks.py`).
"""

from __future__ import annotations

import dataclasses

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch.detectors.loss_kinds import (
    BINARY,
    CATEGORICAL,
    REGRESSION,
    SPARSE_CATEGORICAL,
    loss_name_and_logits,
    losses_by_output,
)
from keras_trainwatch.findings import (
    EXCESSIVE_DROPOUT,
    MISMATCHED_OUTPUT,
    MISSING_ACTIVATION,
    Finding,
)
from keras_trainwatch.model_graph import activation_name, consumers_in_graph

# A dropout rate above this leaves almost no unit to learn from.
MAX_DROPOUT_RATE = 0.8


def check_model(model: keras.Model) -> list[Finding]:
    """The construction faults of `model`, as findings at step 0.

    Args:
        model: A built, compiled Keras model.

    Returns:
        A list of `Finding`s (empty for a well-made model).
    """
    found = []
    graph = _keras_compat.graph_io(model)
    if graph is not None:
        outputs = keras.tree.flatten(graph[1])
        losses = losses_by_output(model, len(outputs))
        for output, loss in zip(outputs, losses):
            layer, _ = _keras_compat.producer(output)
            found += _output_checks(layer, output, loss)
        found += _linear_stacks(graph[1])
    found += [
        _finding(
            EXCESSIVE_DROPOUT,
            layer.name,
            float(layer.rate),
            MAX_DROPOUT_RATE,
            f"Dropout layer '{layer.name}' drops {layer.rate:.0%} of its "
            f"inputs at every step (flagged above {MAX_DROPOUT_RATE:.0%}): "
            "the layers after it see almost nothing to learn from.",
        )
        for layer in _keras_compat.all_layers(model)
        if isinstance(layer, keras.layers.Dropout)
        and layer.rate > MAX_DROPOUT_RATE
    ]
    return found


class ModelChecks:
    """The construction checks as a detector: computed once for a model,
    reported at every probe (they hold as long as the model is built so).

    Args:
        model: A built, compiled Keras model.
    """

    kind = MISMATCHED_OUTPUT  # and the other construction kinds
    history_size = 0

    def __init__(self, model: keras.Model):
        self.findings = check_model(model)

    def __call__(self, record, recent) -> list[Finding]:
        return [
            dataclasses.replace(
                f,
                epoch=record.epoch,
                step=record.step,
                last_epoch=record.epoch,
                last_step=record.step,
            )
            for f in self.findings
        ]


def _output_checks(layer, output, loss):
    name, from_logits = loss_name_and_logits(loss)
    activation = activation_name(layer) or "linear"
    units = output.shape[-1]
    where = f"The output layer '{layer.name}'"
    if activation == "softmax" and units == 1:
        return [
            _finding(
                MISMATCHED_OUTPUT,
                layer.name,
                1.0,
                2.0,
                f"{where} applies softmax over a single unit: its output is "
                "always 1.0, so no gradient reaches any weight.",
                "Use sigmoid for a single output unit (binary), or one unit per "
                "class with softmax.",
            )
        ]
    for losses, expected in (
        (CATEGORICAL | SPARSE_CATEGORICAL, "softmax"),
        (BINARY, "sigmoid"),
    ):
        if name in losses:
            return _probability_checks(
                layer, where, name, from_logits, activation, expected
            )
    if name in REGRESSION and activation == "softmax":
        return [
            _mismatch(
                layer,
                f"{where} applies softmax, whose outputs sum "
                f"to 1, before the regression loss {name}.",
                "Use a linear output layer for regression.",
            )
        ]
    return []


def _probability_checks(layer, where, loss, from_logits, activation, expected):
    """A cross-entropy wants `expected` probabilities, or logits with
    `from_logits=True`.

    Probabilities into a `from_logits=True` loss are not flagged: Keras's
    TensorFlow backend reads the logits the softmax/sigmoid kept, warns
    about it itself, and trains exactly as with logits.
    """
    if not from_logits and activation != expected:
        return [
            _mismatch(
                layer,
                f"{where} uses a {activation} activation, but the loss {loss} "
                f"expects {expected} probabilities.",
                f"Use activation='{expected}' on the output layer, or keep it "
                "linear and pass from_logits=True to the loss.",
            )
        ]
    return []


def _linear_stacks(outputs):
    """Dense layers without activation whose only consumer is another Dense
    layer: two linear maps in a row are one linear map."""
    consumers = consumers_in_graph(outputs)
    found = []
    for producer, users in consumers.values():
        if (
            type(producer) is keras.layers.Dense
            and activation_name(producer) is None
            and len(users) == 1
            and type(users[0]) is keras.layers.Dense
        ):
            found.append(
                _finding(
                    MISSING_ACTIVATION,
                    producer.name,
                    0.0,
                    0.0,
                    f"Layer '{producer.name}' is a Dense layer without activation "
                    f"feeding straight into Dense layer '{users[0].name}': two "
                    "linear maps in a row are one linear map, so the extra layer "
                    "adds no power to learn.",
                )
            )
    return found


def _mismatch(layer, message, remedy):
    return _finding(MISMATCHED_OUTPUT, layer.name, 0.0, 0.0, message, remedy)


def _finding(kind, layer, value, threshold, message, remedy=""):
    return Finding(
        kind=kind,
        layer=layer,
        epoch=0,
        step=0,
        value=value,
        threshold=threshold,
        message=message,
        remedy=remedy,
    )
