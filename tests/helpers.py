"""Small models, findings and checks shared by the tests (fixtures are in
`conftest.py`)."""

from __future__ import annotations

import keras

from keras_trainwatch.findings import Finding


def mlp(
    input_dim=64,
    depth=3,
    width=32,
    activation="relu",
    initializer="he_normal",
    bias=0.0,
    outputs=10,
    output_activation="softmax",
    names=None,
):
    """A Sequential MLP whose hidden layers are named hidden_0, hidden_1, ...

    `bias` may be a number for every hidden layer or a dict {depth: value}.
    """
    model = keras.Sequential([keras.Input((input_dim,))], name="mlp")
    for i in range(depth):
        b = bias.get(i, 0.0) if isinstance(bias, dict) else bias
        model.add(
            keras.layers.Dense(
                width,
                activation=activation,
                kernel_initializer=initializer,
                bias_initializer=keras.initializers.Constant(b),
                name=f"hidden_{i}",
            )
        )
    model.add(
        keras.layers.Dense(outputs, activation=output_activation, name="out")
    )
    return model


def compiled(model, optimizer="adam", loss="sparse_categorical_crossentropy"):
    model.compile(optimizer=optimizer, loss=loss)
    return model


def regression_mlp(optimizer):
    """A 3-hidden-layer ReLU MLP for `regression_data`, compiled with MSE."""
    model = mlp(input_dim=16, depth=3, outputs=1, output_activation=None)
    return compiled(model, optimizer=optimizer, loss="mse")


def finding(
    kind="dead_relu",
    layer="dense",
    step=0,
    value=0.6,
    threshold=0.5,
    message=None,
    **fields,
):
    """A `Finding` at epoch 0 (`message` defaults to "<kind> in <layer>.")."""
    return Finding(
        kind,
        layer,
        0,
        step,
        value,
        threshold,
        f"{kind} in {layer}." if message is None else message,
        **fields,
    )


def assert_watched_silently(watch):
    """The watch probed (and is still probing) and found nothing: a watch
    that turned itself off would find nothing too."""
    assert watch.records and watch.probing, "the watch did not probe"
    assert watch.findings == [], [str(f) for f in watch.findings]
