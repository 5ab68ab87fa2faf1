"""The CNN builder."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_trainwatch._validation import invalid, one_of
from keras_trainwatch.layers.block import apply_block
from keras_trainwatch.models.assembly import (
    dense_blocks,
    finish,
    hidden_config,
    widths_from,
)

_POOLING = {
    "max": {
        1: keras.layers.MaxPooling1D,
        2: keras.layers.MaxPooling2D,
        3: keras.layers.MaxPooling3D,
    },
    "avg": {
        1: keras.layers.AveragePooling1D,
        2: keras.layers.AveragePooling2D,
        3: keras.layers.AveragePooling3D,
    },
}
_GLOBAL_POOLING = {
    1: keras.layers.GlobalAveragePooling1D,
    2: keras.layers.GlobalAveragePooling2D,
    3: keras.layers.GlobalAveragePooling3D,
}


def build_cnn(
    input_shape: Sequence[int],
    outputs: int,
    *,
    filters: Sequence[int] | int = (32, 64),
    kernel_size: int = 3,
    pooling: str | None = "max",
    dense_widths: Sequence[int] = (),
    task: str = "multiclass",
    activation: str = "relu",
    kernel_initializer: str | None = None,
    batch_norm=None,
    dropout=0.2,
    compile: bool = False,
    optimizer="adam",
    learning_rate: float | None = None,
    name: str = "cnn",
) -> keras.Model:
    """Builds a convolutional network that follows the best practices.

    One convolution block per entry of `filters` (each followed by 2x
    pooling while the feature map is large enough), global average pooling,
    optional dense blocks, and the output layer. Defaults as in `build_mlp`:
    ReLU + He initialization, dropout, batch normalization on request.

    Args:
        input_shape: `(steps, channels)`, `(height, width, channels)` or
            `(depth, height, width, channels)` (channels last).
        outputs: Output units.
        filters: Filters per convolution block (default `(32, 64)`).
        kernel_size: Integer >= 1, default 3.
        pooling: `"max"` (default), `"avg"` or `None` after each block.
        dense_widths: Widths of dense blocks after the global pooling.
        task, activation, kernel_initializer, batch_norm, dropout, compile,
        optimizer, learning_rate, name: As in `build_mlp`. `dropout` may be
            `{"rate": 0.1, "spatial": True}` to drop whole channels.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: For an input without spatial axes (a CNN on a 1-D
            input), or any invalid setting.

    Example:

    ```python
    model = build_cnn((8, 8, 1), 10, filters=(16, 32), compile=True)
    ```
    """
    input_shape = tuple(input_shape)
    if len(input_shape) not in (2, 3, 4):
        raise ValueError(
            "Invalid value received for argument `input_shape`. A CNN needs "
            "spatial axes and a channel axis: (steps, channels), (height, "
            "width, channels) or (depth, height, width, channels). Use "
            f"build_mlp for flat inputs. Received: input_shape={input_shape}"
        )
    rank = len(input_shape) - 1
    filters = widths_from(filters, None, name="filters")
    dense_widths = list(dense_widths)
    if dense_widths:
        dense_widths = widths_from(dense_widths, None, name="dense_widths")
    if pooling is not None:
        one_of("pooling", pooling, tuple(_POOLING))
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise invalid("kernel_size", "an integer >= 1", kernel_size)

    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for i, count in enumerate(filters):
        config = hidden_config(
            "conv",
            count,
            activation,
            kernel_initializer,
            batch_norm,
            dropout,
            rank=rank,
            kernel_size=kernel_size,
        )
        x = apply_block(x, config, name=f"conv_{i}")
        if pooling is not None and min(x.shape[1:-1]) >= 2:
            x = _POOLING[pooling][rank](2, name=f"pool_{i}")(x)
    x = _GLOBAL_POOLING[rank](name="global_pool")(x)
    x = dense_blocks(
        x,
        dense_widths,
        "dense",
        activation,
        kernel_initializer,
        batch_norm,
        dropout,
    )
    return finish(
        inputs,
        x,
        task=task,
        outputs=outputs,
        compile=compile,
        optimizer=optimizer,
        learning_rate=learning_rate,
        name=name,
    )
