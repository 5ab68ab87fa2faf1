"""The MLP builder."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_trainwatch.models.assembly import (
    dense_blocks,
    finish,
    flat_input,
    widths_from,
)


def build_mlp(
    input_shape: Sequence[int],
    outputs: int,
    *,
    widths: Sequence[int] | int = (128, 64),
    depth: int | None = None,
    task: str = "multiclass",
    activation: str = "relu",
    kernel_initializer: str | None = None,
    batch_norm=None,
    dropout=0.2,
    compile: bool = False,
    optimizer="adam",
    learning_rate: float | None = None,
    name: str = "mlp",
) -> keras.Model:
    """Builds a multilayer perceptron that follows the best practices.

    The defaults apply the known remedies: ReLU activations with He
    initialization against vanishing gradients, dropout between hidden
    layers, and batch normalization one argument away (`batch_norm=True`)
    against exploding gradients. Inputs with more than one axis are
    flattened.

    Args:
        input_shape: Shape of one sample, e.g. `(64,)` or `(28, 28, 1)`.
        outputs: Output units (classes for `"multiclass"`).
        widths: Hidden widths, from the input up (default `(128, 64)`), or
            one integer width repeated `depth` times.
        depth: Optional number of hidden layers (with an integer `widths`).
        task: `"multiclass"` (default), `"binary"` or `"regression"`: picks
            the output activation and, with `compile=True`, loss and metrics.
        activation: Hidden activation, default `"relu"`.
        kernel_initializer: Default `None`: He for ReLU-like activations,
            Glorot otherwise.
        batch_norm: `None`/`False` (default), `True`, a `BatchNormConfig` or
            a dict of its fields.
        dropout: Rate (default 0.2), a `DropoutConfig` or a dict.
        compile: If `True`, compile with the task's loss and metrics.
        optimizer: Optimizer name or instance for `compile` (default adam).
        learning_rate: Optional learning rate for a named optimizer.
        name: Model name.

    Returns:
        A functional `keras.Model` (hidden layers `hidden_<i>_dense`, ...).

    Example:

    ```python
    model = build_mlp((64,), 10, widths=(128, 64), batch_norm=True, compile=True)
    watch = keras_trainwatch.GradientWatch((x[:64], y[:64]))
    model.fit(x, y, epochs=5, callbacks=[watch])
    ```
    """
    widths = widths_from(widths, depth)
    inputs, x = flat_input(input_shape)
    x = dense_blocks(
        x, widths, "hidden", activation, kernel_initializer, batch_norm, dropout
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
