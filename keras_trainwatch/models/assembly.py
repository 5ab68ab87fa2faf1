"""What the builders share: the hidden-block configuration and finishing a
model (output layer, optional compile)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras

from keras_trainwatch._validation import invalid, positive_int
from keras_trainwatch.layers.batch_norm import BatchNormConfig
from keras_trainwatch.layers.block import BlockConfig, apply_block
from keras_trainwatch.layers.dropout import DropoutConfig
from keras_trainwatch.models.task import compile_for_task, output_layer


def hidden_config(
    kind: str,
    units: int,
    activation: str,
    kernel_initializer: str | None,
    batch_norm: BatchNormConfig | dict | bool | None,
    dropout: DropoutConfig | dict | float,
    **conv,
) -> BlockConfig:
    """The `BlockConfig` of one hidden block (`batch_norm=True` means the
    default `BatchNormConfig`; spatial dropout becomes plain dropout in
    dense blocks)."""
    if kind == "dense":
        dropout = _without_spatial(dropout)
    if batch_norm is True:
        batch_norm = BatchNormConfig()
    elif batch_norm is False:
        batch_norm = None
    return BlockConfig(
        kind=kind,
        units=units,
        activation=activation,
        kernel_initializer=kernel_initializer,
        batch_norm=batch_norm,
        dropout=dropout,
        **conv,
    )


def _without_spatial(dropout):
    if isinstance(dropout, dict) and dropout.get("spatial"):
        return {**dropout, "spatial": False}
    if isinstance(dropout, DropoutConfig) and dropout.spatial:
        return dataclasses.replace(dropout, spatial=False)
    return dropout


def widths_from(widths: Sequence[int] | int, depth: int | None, name="widths"):
    """Hidden widths from a sequence, or from one width repeated `depth`
    times."""
    if depth is not None:
        depth = positive_int("depth", depth)
        if isinstance(widths, Sequence):
            raise ValueError(
                "Pass `depth` only with a single integer width. Received: "
                f"{name}={widths!r}, depth={depth}"
            )
        widths = [widths] * depth
    if isinstance(widths, int) and not isinstance(widths, bool):
        widths = [widths]
    if not isinstance(widths, Sequence) or len(widths) == 0:
        raise invalid(name, "a non-empty sequence of integers >= 1", widths)
    return [positive_int(name, w) for w in widths]


def flat_input(input_shape: Sequence[int]):
    """The model input and, for inputs with several axes, its flattened
    tensor."""
    inputs = keras.Input(tuple(input_shape), name="input")
    if len(inputs.shape) > 2:
        return inputs, keras.layers.Flatten(name="flatten")(inputs)
    return inputs, inputs


def dense_blocks(
    x, widths, prefix, activation, kernel_initializer, batch_norm, dropout
):
    """Adds one dense hidden block per width, named `<prefix>_<i>_...`."""
    for i, width in enumerate(widths):
        config = hidden_config(
            "dense", width, activation, kernel_initializer, batch_norm, dropout
        )
        x = apply_block(x, config, name=f"{prefix}_{i}")
    return x


def finish(
    inputs, x, *, task, outputs, compile, optimizer, learning_rate, name
) -> keras.Model:
    """Adds the output layer, makes the model, compiles it if asked."""
    model = keras.Model(inputs, output_layer(task, outputs)(x), name=name)
    if compile:
        compile_for_task(model, task, optimizer, learning_rate)
    return model
