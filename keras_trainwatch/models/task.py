"""Output layers, losses and metrics that fit a task."""

from __future__ import annotations

import keras

from keras_trainwatch._validation import one_of, positive_int

TASKS = {
    # task: (output activation, loss, metrics)
    "multiclass": ("softmax", "sparse_categorical_crossentropy", ["accuracy"]),
    "binary": ("sigmoid", "binary_crossentropy", ["accuracy"]),
    "regression": (None, "mse", ["mae"]),
}


def output_layer(task: str, outputs: int) -> keras.layers.Dense:
    """The output `Dense` layer for a task.

    Args:
        task: `"multiclass"` (softmax over `outputs` classes), `"binary"`
            (sigmoid per output) or `"regression"` (linear).
        outputs: Integer >= 1, the number of output units.

    Returns:
        A `keras.layers.Dense` named `"output"`.
    """
    one_of("task", task, tuple(TASKS))
    positive_int("outputs", outputs)
    if task == "multiclass" and outputs < 2:
        raise ValueError(
            "Invalid value received for argument `outputs`. A multiclass "
            "task needs at least 2 classes (use task='binary' for one "
            f"sigmoid output). Received: outputs={outputs}"
        )
    return keras.layers.Dense(outputs, activation=TASKS[task][0], name="output")


def compile_for_task(
    model: keras.Model,
    task: str,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float | None = None,
) -> keras.Model:
    """Compiles `model` with the loss and metrics that fit its task.

    Args:
        model: The model.
        task: A key of `TASKS`.
        optimizer: Optimizer name or instance, default `"adam"`.
        learning_rate: Optional learning rate for an optimizer given by name.

    Returns:
        The same model, compiled.

    Example:

    ```python
    compile_for_task(model, "multiclass", learning_rate=1e-3)
    ```
    """
    one_of("task", task, tuple(TASKS))
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
        if learning_rate is not None:
            optimizer.learning_rate = learning_rate
    _, loss, metrics = TASKS[task]
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))
    return model
