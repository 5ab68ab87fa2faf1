"""`trainwatch demo`: a broken network caught in the act, then fixed.

Trains a deep sigmoid MLP on the shipped digits data with `GradientWatch`
attached, shows the findings as they happen, then trains the same network
with the remedy applied (ReLU activations, He initialization) and compares.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TextIO

import keras

from keras_trainwatch.datasets import NUM_CLASSES, load_digits
from keras_trainwatch.watch import GradientWatch


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """The outcome of one demo training run."""

    name: str
    findings: tuple
    loss: float
    accuracy: float
    log_dir: str


def build_mlp(activation: str, initializer: str, depth: int = 8) -> keras.Model:
    """A digits classifier with `depth` hidden layers of 64 units."""
    model = keras.Sequential([keras.Input((64,))], name=f"{activation}_mlp")
    for i in range(depth):
        model.add(
            keras.layers.Dense(
                64,
                activation=activation,
                kernel_initializer=initializer,
                name=f"hidden_{i}",
            )
        )
    model.add(keras.layers.Dense(NUM_CLASSES, activation="softmax", name="out"))
    model.compile(
        keras.optimizers.SGD(0.05),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def train(
    name: str, model: keras.Model, log_dir: str, epochs: int, out: TextIO
) -> DemoRun:
    """Trains `model` on digits with a `GradientWatch`, printing findings."""
    x, y = load_digits()
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    run_dir = os.path.join(log_dir, name)

    def show(finding):
        print(
            f"  ! epoch {finding.epoch}, step {finding.step}: {finding}",
            file=out,
        )

    watch = GradientWatch(
        (x_train[:256], y_train[:256]), log_dir=run_dir, on_finding=show
    )
    print(f"\n== {name}: training {epochs} epochs", file=out)
    model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=[watch],
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(
        f"   test loss {loss:.3f}, accuracy {accuracy:.1%}, "
        f"{len(watch.findings)} finding(s)",
        file=out,
    )
    return DemoRun(name, tuple(watch.findings), loss, accuracy, run_dir)


def run_demo(
    log_dir: str = "trainwatch_logs", epochs: int = 10, out: TextIO = sys.stdout
) -> list[DemoRun]:
    """Runs the demo and prints its report.

    Args:
        log_dir: Where the TensorBoard logs of both runs go.
        epochs: Epochs per run.
        out: Stream for the report.

    Returns:
        The two `DemoRun`s, broken first.
    """
    keras.utils.set_random_seed(0)
    runs = [
        train(
            "broken_sigmoid",
            build_mlp("sigmoid", "glorot_uniform"),
            log_dir,
            epochs,
            out,
        ),
        train(
            "fixed_relu", build_mlp("relu", "he_normal"), log_dir, epochs, out
        ),
    ]
    print("\n== Summary", file=out)
    print(
        f"   {'run':<16}{'findings':>10}{'test loss':>11}{'accuracy':>10}",
        file=out,
    )
    for run in runs:
        print(
            f"   {run.name:<16}{len(run.findings):>10}{run.loss:>11.3f}"
            f"{run.accuracy:>10.1%}",
            file=out,
        )
    print(
        f"\n   See it in TensorBoard: tensorboard --logdir {log_dir}", file=out
    )
    return runs
