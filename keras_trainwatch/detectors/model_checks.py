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
import math

import keras
import numpy as np

from keras_trainwatch import _keras_compat
from keras_trainwatch.detectors.loss_kinds import (
    ABSOLUTE,
    CATEGORICAL,
    SPARSE_CATEGORICAL,
    SQUARED,
    loss_name_and_logits,
    losses_by_output,
    single_loss_and_targets,
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

# Output activations whose values are always positive: the only ones that
# learn with a categorical cross-entropy in Keras 3 without
# from_logits=True (it divides the outputs by their sum and takes the log).
# Measured by benchmarks/output_loss_pairs.py (docs/benchmarks/output_loss_pairs.md):
# softmax, sigmoid and softplus learn; linear, relu, elu and tanh learn
# nothing. Every output learns with binary cross-entropy (Keras clips what
# is out of range), so none is flagged there.
POSITIVE_OUTPUTS = frozenset({"softmax", "sigmoid", "softplus", "exponential"})

# The range of the outputs of an activation, for targets it cannot reach.
OUTPUT_RANGES = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
    "exponential": (0.0, math.inf),
    "elu": (-1.0, math.inf),
}
# Targets beyond the output's range are a fault when they alone keep the
# loss above this share of the base-rate loss.
MAX_UNREACHABLE = 0.1


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
            produced = _keras_compat.producer(output)
            if produced is not None:
                found += _output_checks(produced[0], output, loss)
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
            measure="dropout rate",
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
        targets: The probe batch's targets (for `unreachable_targets`), or
            `None`.
    """

    kinds = (MISMATCHED_OUTPUT, MISSING_ACTIVATION, EXCESSIVE_DROPOUT)

    def __init__(self, model: keras.Model, targets=None):
        self.findings = check_model(model)
        if not any(f.kind == MISMATCHED_OUTPUT for f in self.findings):
            self.findings += unreachable_targets(model, targets)

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
                measure="output units",
            )
        ]
    if (
        name in CATEGORICAL | SPARSE_CATEGORICAL
        and not from_logits
        and activation not in POSITIVE_OUTPUTS
    ):
        return [
            _mismatch(
                layer,
                f"{where} uses a {activation} activation, whose outputs can be "
                f"0 or negative, before the loss {name}: Keras divides the "
                "outputs by their sum and takes their log, which such outputs "
                "break (the pair learns nothing in "
                "benchmarks/output_loss_pairs.py).",
                "Use activation='softmax' on the output layer, or keep it "
                "linear and pass from_logits=True to the loss.",
            )
        ]
    return []


def unreachable_targets(model: keras.Model, targets) -> list[Finding]:
    """Regression targets that the output layer's activation cannot reach
    (a sigmoid, softmax or ReLU output against targets outside its range),
    as findings at step 0.

    Flagged when the part of the targets beyond the output's range alone
    keeps the loss above `MAX_UNREACHABLE` of the base-rate loss (the
    variance for squared error, the distance to the median for absolute
    error): the best the output can do is the targets clipped into its
    range.

    Args:
        model: A built, compiled single-output Keras model.
        targets: The probe batch's targets.

    Returns:
        A list of at most one `Finding`.
    """
    graph = _keras_compat.graph_io(model)
    loss_and_targets = single_loss_and_targets(model, targets)
    if graph is None or loss_and_targets is None:
        return []
    name, y = loss_and_targets
    y = y.ravel()
    outputs = keras.tree.flatten(graph[1])
    if name not in SQUARED | ABSOLUTE or len(outputs) != 1:
        return []
    produced = _keras_compat.producer(outputs[0])
    if produced is None:
        return []
    layer = produced[0]
    activation = activation_name(layer) or "linear"
    if activation not in OUTPUT_RANGES:
        return []
    low, high = OUTPUT_RANGES[activation]
    gap = y - np.clip(y, low, high)
    if name in SQUARED:
        floor, base = np.mean(gap**2), np.var(y)
    else:
        floor, base = np.mean(np.abs(gap)), np.mean(np.abs(y - np.median(y)))
    if base <= 0 or floor / base <= MAX_UNREACHABLE:
        return []
    outside = float(np.mean(gap != 0))
    return [
        _mismatch(
            layer,
            f"The output layer '{layer.name}' applies {activation}, whose "
            f"outputs lie in {_interval(low, high)}, but {outside:.0%} of the "
            "probe batch's targets lie outside it: even at its best the "
            f"{name} loss stays at {floor / base:.0%} of the base-rate loss "
            f"(flagged above {MAX_UNREACHABLE:.0%}).",
            "Use a linear output layer (or an activation whose range covers "
            "the targets), or scale the targets into the output's range.",
            value=floor / base,
            threshold=MAX_UNREACHABLE,
            measure="best loss over the base-rate loss",
        )
    ]


def _interval(low, high):
    left = "[" if low == 0 and high == math.inf else "("
    return f"{left}{low:g}, {'inf' if high == math.inf else f'{high:g}'})"


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
                    None,
                    None,
                    f"Layer '{producer.name}' is a Dense layer without activation "
                    f"feeding straight into Dense layer '{users[0].name}': two "
                    "linear maps in a row are one linear map, so the extra layer "
                    "adds no power to learn.",
                )
            )
    return found


def _mismatch(layer, message, remedy, value=None, threshold=None, measure=None):
    return _finding(
        MISMATCHED_OUTPUT,
        layer.name,
        value,
        threshold,
        message,
        remedy,
        measure=measure,
    )


def _finding(kind, layer, value, threshold, message, remedy="", measure=None):
    return Finding(
        measure=measure,
        kind=kind,
        layer=layer,
        epoch=0,
        step=0,
        value=value,
        threshold=threshold,
        message=message,
        remedy=remedy,
    )
