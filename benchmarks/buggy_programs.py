"""Buggy programs in the style of Stack Overflow questions, each with its
fixed version: does GradientWatch name the fault (right kind, right layer),
how early, and does it stay quiet once the program is fixed?

Every program is small and trains for real (the shipped digits or generated
data). Its label is confirmed by an independent measurement written here,
not by the watch: a GradientTape of our own, the layer outputs counted by
hand, the weights compared unit by unit, or the accuracy (or explained
variance) of the buggy run against chance and against the fixed run. A
program whose label is not confirmed is printed as such and counted out of
the recall.

Printed: one row per program (label confirmed and the evidence, what the
watch found on the buggy version with the epoch of the first probe that
found it, what it found on the fixed version), then the summary line
`recall R/N, false alarms on fixed versions F/M`.

    .venv/bin/python benchmarks/buggy_programs.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import tensorflow as tf
from keras import layers as L

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

EPOCHS = 12


# --- data ------------------------------------------------------------------


def digits():
    return load_digits()


def binary_digits():
    x, y = load_digits()
    return x, (y % 2).astype("float32")


def circles():
    """Two rings: not separable by any linear map."""
    rng = np.random.default_rng(0)
    n = 2048
    radius = np.where(rng.random(n) < 0.5, 1.0, 2.0)
    angle = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    x += rng.normal(scale=0.15, size=x.shape)
    return x.astype("float32"), (radius > 1.5).astype("int32")


def raw_features(scale):
    """Tabular features in raw units (ages, incomes...): `scale` times a
    standardized table."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 12))
    y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3] > 0).astype("int32")
    return (x * scale + 3 * scale).astype("float32"), y


def house_prices(target_scale):
    """A regression whose targets come in raw units (prices in thousands)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2048, 8)).astype("float32")
    signal = x @ rng.normal(size=8) + 0.5 * np.sin(2 * x[:, 0])
    y = signal / signal.std() + 0.3 * rng.normal(size=len(x))
    return x, (y * target_scale / 3 + target_scale / 2).astype("float32")


# --- models ----------------------------------------------------------------


def dense_stack(
    inputs,
    widths,
    activation,
    output_units,
    output_activation,
    init="glorot_uniform",
    dropout=0.0,
):
    """Hidden layers `hidden_0`, `hidden_1`, ... and a layer `output`."""
    model = keras.Sequential([keras.Input((inputs,))])
    for i, width in enumerate(widths):
        model.add(
            L.Dense(
                width,
                activation=activation,
                kernel_initializer=init,
                name=f"hidden_{i}",
            )
        )
        if dropout:
            model.add(L.Dropout(dropout, name=f"dropout_{i}"))
    model.add(
        L.Dense(output_units, activation=output_activation, name="output")
    )
    return model


# --- independent measurements -------------------------------------------------


def own_gradients(model, loss, x, y):
    """Gradient norms of `loss`, by a GradientTape of our own."""
    loss = keras.losses.get(loss) if isinstance(loss, str) else loss
    with tf.GradientTape() as tape:
        prediction = model(x, training=False)
        if prediction.shape[-1] == 1 and np.ndim(y) == 1:
            y = np.asarray(y)[:, None]  # as Keras's compiled loss does
        loss = loss(y, prediction)
    grads = tape.gradient(loss, model.trainable_variables)
    return [
        0.0 if g is None else float(tf.norm(tf.convert_to_tensor(g)))
        for g in grads
    ]


def accuracy(model, x, y):
    prediction = model.predict(x, verbose=0, batch_size=512)
    if prediction.shape[-1] == 1:
        return float(np.mean((prediction[:, 0] > 0.5) == (y > 0.5)))
    return float(np.mean(np.argmax(prediction, -1) == y))


def chance_accuracy(y):
    _, counts = np.unique(np.round(y).astype(int), return_counts=True)
    return float(counts.max() / counts.sum())


def explained_variance(model, x, y):
    prediction = model.predict(x, verbose=0, batch_size=512)[:, 0]
    if not np.all(np.isfinite(prediction)):
        return float("-inf")
    return float(1 - np.var(y - prediction) / np.var(y))


def saturated_share(model, layer_name, x):
    """Share of a tanh/sigmoid layer's outputs beyond 0.99 of its range,
    from the layer's output computed here."""
    layer = model.get_layer(layer_name)
    outputs = keras.Model(model.inputs[0], layer.output)(x).numpy()
    if layer.activation.__name__ == "sigmoid":
        return float(np.mean((outputs < 0.01) | (outputs > 0.99)))
    return float(np.mean(np.abs(outputs) > 0.99))


def learns_nothing(buggy, fixed):
    """The buggy run's accuracy stays within 5 points of chance while the
    fixed run's is at least 15 points higher."""
    ok = buggy.accuracy <= buggy.chance + 0.05 and (
        fixed.accuracy >= buggy.accuracy + 0.15
    )
    return ok, (
        f"accuracy {buggy.accuracy:.2f} (chance {buggy.chance:.2f}), "
        f"fixed {fixed.accuracy:.2f}"
    )


def much_worse(buggy, fixed):
    """The fixed run reaches at least 15 points more accuracy."""
    ok = fixed.accuracy >= buggy.accuracy + 0.15
    return ok, (
        f"accuracy {buggy.accuracy:.2f} (chance {buggy.chance:.2f}), "
        f"fixed {fixed.accuracy:.2f}"
    )


# --- programs ----------------------------------------------------------------


@dataclasses.dataclass
class Run:
    model: keras.Model
    watch: ktw.GradientWatch
    history: dict
    x: np.ndarray
    y: np.ndarray
    accuracy: float = float("nan")
    chance: float = float("nan")
    initial: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Program:
    """A buggy program and its fix.

    Args:
        name: Short name.
        question: The symptom as a Stack Overflow question would put it.
        expected: `(kind, layer)` the watch should report (`layer=None`
            for the loss as a whole).
        buggy: `() -> (model, optimizer, loss, data)`.
        fixed: The same for the fixed program.
        confirm: `(buggy_run, fixed_run) -> (confirmed, evidence)`.
        epochs: Training epochs.
    """

    name: str
    question: str
    expected: tuple[str, str | None]
    buggy: Callable
    fixed: Callable
    confirm: Callable
    epochs: int = EPOCHS


def classifier(output):
    def build():
        model = dense_stack(64, (64, 64), "relu", 10, output, init="he_normal")
        return model, "adam", _CE, digits()

    return build


def softmax_one_unit_bce():
    model = dense_stack(64, (32,), "relu", 1, "softmax")
    return model, "adam", "binary_crossentropy", binary_digits()


def sigmoid_one_unit_bce():
    model = dense_stack(64, (32,), "relu", 1, "sigmoid")
    return model, "adam", "binary_crossentropy", binary_digits()


def confirm_constant_output(buggy, fixed):
    prediction = buggy.model.predict(buggy.x[:512], verbose=0)
    constant = float(np.ptp(prediction)) == 0.0
    ok = constant and much_worse(buggy, fixed)[0]
    return ok, (
        f"predictions constant at {float(prediction[0, 0]):.3g}: {constant}; "
        + much_worse(buggy, fixed)[1]
    )


def softmax_one_unit_mse():
    x, y = house_prices(1.0)
    model = dense_stack(8, (32,), "tanh", 1, "softmax")
    return model, "adam", "mse", (x, (y - y.mean()) / y.std())


def linear_one_unit_mse():
    x, y = house_prices(1.0)
    model = dense_stack(8, (32,), "tanh", 1, None)
    return model, "adam", "mse", (x, (y - y.mean()) / y.std())


def confirm_zero_gradients(buggy, fixed):
    norms = buggy.initial["gradients"]
    ok = all(n == 0.0 for n in norms) and any(
        n > 0 for n in fixed.initial["gradients"]
    )
    return ok, f"largest own gradient norm {max(norms):.3g} (fixed: > 0)"


def confirm_variance(buggy, fixed):
    b = explained_variance(buggy.model, buggy.x, buggy.y)
    f = explained_variance(fixed.model, fixed.x, fixed.y)
    return f >= b + 0.3, f"explained variance {b:.2f}, fixed {f:.2f}"


def sigmoid_sgd(widths=(64, 64, 64, 64)):
    def build():
        model = dense_stack(64, widths, "sigmoid", 10, "softmax")
        return model, keras.optimizers.SGD(0.01), _CE, digits()

    return build


def relu_adam(widths=(64, 64, 64, 64)):
    def build():
        model = dense_stack(64, widths, "relu", 10, "softmax", init="he_normal")
        return model, "adam", _CE, digits()

    return build


def mae_sigmoid():
    model = dense_stack(64, (32,), "sigmoid", 1, "sigmoid")
    return model, keras.optimizers.SGD(0.01), "mae", binary_digits()


def bce_sigmoid():
    model = dense_stack(64, (32,), "relu", 1, "sigmoid")
    return model, "adam", "binary_crossentropy", binary_digits()


def unscaled_tanh(scale):
    def build():
        model = dense_stack(12, (64, 64), "tanh", 2, "softmax")
        x, y = raw_features(scale)
        if scale == 1.0:  # the fix: standardize
            x = (x - x.mean(0)) / x.std(0)
        return model, keras.optimizers.SGD(0.01), _CE, (x, y)

    return build


def confirm_saturation(layer):
    """Most of the layer's outputs saturated by our own count (few in the
    fixed run), and the fixed run at least 5 points more accurate."""

    def confirm(buggy, fixed):
        b = buggy.initial["saturated"][layer]
        f = fixed.initial["saturated"][layer]
        ok = b >= 0.5 and f < 0.5 and fixed.accuracy >= buggy.accuracy + 0.05
        return ok, (
            f"own count: {b:.0%} of '{layer}' outputs saturated (fixed "
            f"{f:.0%}); accuracy {buggy.accuracy:.2f}, fixed "
            f"{fixed.accuracy:.2f}"
        )

    return confirm


def unscaled_targets(scale):
    def build():
        x, y = house_prices(scale)
        if scale == 1.0:  # the fix: standardize the targets
            y = (y - y.mean()) / y.std()
        model = dense_stack(8, (64, 64), "relu", 1, None, init="he_normal")
        return model, keras.optimizers.SGD(0.01), "mse", (x, y)

    return build


def constant_init(init):
    def build():
        model = dense_stack(64, (64, 64), "relu", 10, "softmax", init=init)
        # The output layer keeps its random default: only the hidden
        # layers were set by hand, as in the questions.
        model.get_layer("output").set_weights(
            [
                keras.initializers.GlorotUniform(seed=0)((64, 10)).numpy(),
                np.zeros(10, "float32"),
            ]
        )
        return model, "adam", _CE, digits()

    return build


def confirm_identical_units(layer):
    def confirm(buggy, fixed):
        kernel = buggy.model.get_layer(layer).kernel.numpy()
        distinct = len(np.unique(kernel.round(6), axis=1).T)
        ok = distinct == 1 and much_worse(buggy, fixed)[0]
        return ok, (
            f"after training '{layer}' has {distinct} distinct unit(s) of "
            f"{kernel.shape[1]}; " + much_worse(buggy, fixed)[1]
        )

    return confirm


def keep_prob_dropout(rate):
    def build():
        model = dense_stack(
            64, (64, 64), "relu", 10, "softmax", init="he_normal", dropout=rate
        )
        return model, "adam", _CE, digits()

    return build


def linear_stack(activation):
    def build():
        model = dense_stack(2, (16, 16), activation, 2, "softmax")
        return model, "adam", _CE, circles()

    return build


def adam_digits(lr):
    def build():
        model = dense_stack(
            64, (64, 64), "relu", 10, "softmax", init="he_normal"
        )
        return model, keras.optimizers.Adam(lr), _CE, digits()

    return build


def confirm_oscillation(buggy, fixed):
    """Keras's own History shows at least two epoch-to-epoch rises above
    5%, and the fixed run ends with a loss at least 4 times lower."""
    losses = np.asarray(buggy.history["loss"])
    rises = int(np.sum(losses[1:] > losses[:-1] * 1.05))
    final, fixed_final = losses[-1], fixed.history["loss"][-1]
    ok = rises >= 2 and fixed_final * 4 <= final
    return ok, (
        f"{rises} epoch-to-epoch rises above 5% in History; final loss "
        f"{final:.3g}, fixed {fixed_final:.3g}"
    )


_CE = "sparse_categorical_crossentropy"

PROGRAMS = [
    Program(
        "softmax_one_unit_binary",
        "Binary classifier with Dense(1, activation='softmax'): accuracy "
        "stuck at the share of positives.",
        ("mismatched_output", "output"),
        softmax_one_unit_bce,
        sigmoid_one_unit_bce,
        confirm_constant_output,
    ),
    Program(
        "softmax_one_unit_regression",
        "Regression net with a softmax output and MSE: the loss never moves.",
        ("no_gradient", None),
        softmax_one_unit_mse,
        linear_one_unit_mse,
        confirm_zero_gradients,
    ),
    Program(
        "sigmoid_mlp_sgd_0.01",
        "4 sigmoid hidden layers with SGD(0.01): accuracy stays at 10% for "
        "all epochs.",
        ("loss_not_improving", None),
        sigmoid_sgd(),
        relu_adam(),
        learns_nothing,
    ),
    Program(
        "mae_on_sigmoid",
        "Binary classification with a sigmoid output and MAE loss: the "
        "loss is stuck at 0.5.",
        ("loss_not_improving", None),
        mae_sigmoid,
        bce_sigmoid,
        learns_nothing,
    ),
    Program(
        "unscaled_inputs_tanh",
        "Tabular features in raw units (tens to hundreds) into tanh layers: "
        "the network does not learn.",
        ("unscaled_data", "hidden_0"),
        unscaled_tanh(50.0),
        unscaled_tanh(1.0),
        confirm_saturation("hidden_0"),
    ),
    Program(
        "unscaled_regression_targets",
        "House prices in thousands (up to ~120) as targets with SGD: the "
        "loss is huge and goes NaN.",
        ("unscaled_data", None),
        unscaled_targets(120.0),
        unscaled_targets(1.0),
        confirm_variance,
    ),
    Program(
        "constant_kernel_init",
        "kernel_initializer='ones' in the hidden layers: the network "
        "barely learns.",
        ("symmetric_units", "hidden_0"),
        constant_init("ones"),
        constant_init("he_normal"),
        confirm_identical_units("hidden_0"),
    ),
    Program(
        "dropout_as_keep_prob",
        "Dropout(0.9) meant as TensorFlow 1's keep_prob=0.9: accuracy far "
        "below what it should be.",
        ("excessive_dropout", "dropout_0"),
        keep_prob_dropout(0.9),
        keep_prob_dropout(0.1),
        much_worse,
    ),
    Program(
        "no_hidden_activation",
        "Two Dense layers without activation on two rings: accuracy stuck "
        "at 50%.",
        ("missing_activation", "hidden_0"),
        linear_stack(None),
        linear_stack("relu"),
        learns_nothing,
    ),
    Program(
        "relu_output_categorical",
        "Dense(10, activation='relu') output with categorical "
        "cross-entropy: the loss goes up and down and accuracy is low.",
        ("mismatched_output", "output"),
        classifier("relu"),
        classifier("softmax"),
        much_worse,
    ),
    Program(
        "adam_lr_0.1",
        "Adam(learning_rate=0.1) on digits: the loss goes down, then up and "
        "down from epoch to epoch.",
        ("loss_oscillating", None),
        adam_digits(0.1),
        adam_digits(0.001),
        confirm_oscillation,
    ),
]


# --- running -------------------------------------------------------------------


def train(build, epochs, seed=0):
    keras.utils.set_random_seed(seed)
    model, optimizer, loss, (x, y) = build()
    model.compile(optimizer, loss)
    watch = ktw.GradientWatch(
        (x[:256], y[:256]), probe_samples=None, on_finding=lambda f: None
    )
    initial = {"gradients": own_gradients(model, loss, x[:256], y[:256])}
    initial["saturated"] = {
        layer.name: saturated_share(model, layer.name, x[:256])
        for layer in model.layers
        if getattr(getattr(layer, "activation", None), "__name__", "")
        in ("sigmoid", "tanh")
        and layer.name != "output"
    }
    history = model.fit(
        x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[watch]
    )
    run = Run(model, watch, history.history, x, y, initial=initial)
    if y.dtype.kind in "iu" or np.array_equal(y, np.round(y)):
        run.accuracy = accuracy(model, x, y)
        run.chance = chance_accuracy(y)
    return run


def found(run):
    return [(f.kind, f.layer, f.epoch) for f in run.watch.findings]


def describe(findings):
    if not findings:
        return "-"
    return ", ".join(
        f"{kind}" + (f"@{layer}" if layer else "") + f" (epoch {epoch})"
        for kind, layer, epoch in findings
    )


def main(only):
    rows, caught, confirmed, alarms = [], 0, 0, 0
    print(
        "| program | expected | label confirmed: independent evidence "
        "| first found | buggy version: findings (epoch first found) "
        "| fixed version: findings |\n|---|---|---|---|---|---|"
    )
    for program in PROGRAMS:
        if only and program.name not in only:
            continue
        started = time.perf_counter()
        buggy = train(program.buggy, program.epochs)
        fixed = train(program.fixed, program.epochs)
        ok, evidence = program.confirm(buggy, fixed)
        kind, layer = program.expected
        hits = [f for f in found(buggy) if f[0] == kind and f[1] == layer]
        fixed_findings = found(fixed)
        confirmed += ok
        caught += ok and bool(hits)
        alarms += bool(fixed_findings)
        rows.append(
            (
                program,
                ok,
                evidence,
                hits[0][2] if hits else None,
                found(buggy),
                fixed_findings,
                time.perf_counter() - started,
            )
        )
        print(
            f"| {program.name} | {program.expected[0]}"
            + (f"@{program.expected[1]}" if program.expected[1] else "")
            + f" | {'yes' if ok else 'NO'}: {evidence} | "
            + ("-" if not hits else f"epoch {hits[0][2]}")
            + f" | {describe(found(buggy))} | {describe(fixed_findings)} |",
            flush=True,
        )
    print(
        f"\nrecall {caught}/{confirmed} (confirmed labels), false alarms on "
        f"fixed versions {alarms}/{len(rows)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[])
    main(parser.parse_args().only)
