"""The residual MLP builder, for deep networks."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_trainwatch._validation import positive_int
from keras_trainwatch.layers.block import apply_block, default_initializer
from keras_trainwatch.models.assembly import finish, flat_input, hidden_config


def build_residual_mlp(
    input_shape: Sequence[int],
    outputs: int,
    *,
    width: int = 64,
    blocks: int = 4,
    task: str = "multiclass",
    activation: str = "relu",
    kernel_initializer: str | None = None,
    batch_norm=True,
    dropout=0.1,
    compile: bool = False,
    optimizer="adam",
    learning_rate: float | None = None,
    name: str = "residual_mlp",
) -> keras.Model:
    """Builds a deep MLP of residual blocks.

    The input is projected to `width`, then each residual block adds two
    hidden blocks' output to its input (`x + f(x)`), so gradients reach the
    lower layers through the identity path however deep the network is. Batch
    normalization is on by default here.

    Args:
        input_shape: Shape of one sample (flattened if it has several axes).
        outputs: Output units.
        width: Integer >= 1, default 64: width of every block.
        blocks: Integer >= 1, default 4: residual blocks (2 hidden layers
            each).
        task, activation, kernel_initializer, batch_norm, dropout, compile,
        optimizer, learning_rate, name: As in `build_mlp` (here
            `batch_norm=True` and `dropout=0.1` by default).

    Returns:
        A functional `keras.Model`.

    Example:

    ```python
    model = build_residual_mlp((64,), 10, width=64, blocks=10, compile=True)
    ```
    """
    width = positive_int("width", width)
    blocks = positive_int("blocks", blocks)
    inputs, x = flat_input(input_shape)
    x = keras.layers.Dense(
        width,
        kernel_initializer=kernel_initializer
        or default_initializer(activation),
        name="projection",
    )(x)
    config = hidden_config(
        "dense", width, activation, kernel_initializer, batch_norm, dropout
    )
    for i in range(blocks):
        h = apply_block(x, config, name=f"res_{i}_a")
        h = apply_block(h, config, name=f"res_{i}_b")
        x = keras.layers.Add(name=f"res_{i}_add")([x, h])
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
