"""`trainwatch demo`: three broken networks caught in the act, then fixed.

On the UCI digits that ship with the package, each scenario trains a network
with a known failure, with `GradientWatch` attached, printing the findings
as they happen; then trains it again with the known remedy applied. A
side-by-side summary and the TensorBoard command close the report.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Callable
from typing import TextIO

import keras

from keras_trainwatch.datasets import load_digits
from keras_trainwatch.findings import Finding
from keras_trainwatch.models import build_mlp
from keras_trainwatch.reducer import AutoLRReducer
from keras_trainwatch.watch import GradientWatch

TRAIN_SIZE = 1400
# Probe data offered to the watch, which probes 64 of these samples (its
# `probe_samples` default), spread evenly over them.
PROBE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way to train a scenario's network."""

    label: str
    build: Callable[[], keras.Model]
    reduce_lr: bool = False


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A failure, the network that shows it, and the remedied network."""

    name: str
    title: str
    broken: Variant
    fixed: Variant
    remedy: str


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What one demo training run ended with."""

    scenario: str
    variant: str
    findings: tuple[Finding, ...]
    test_loss: float
    test_accuracy: float
    log_dir: str


# Initial weights this large make the lower layers' gradients explode.
_HUGE = {"class_name": "RandomNormal", "config": {"stddev": 3.0}}


def _mlp(optimizer, **kwargs):
    return build_mlp(
        (64,), 10, dropout=0.0, compile=True, optimizer=optimizer, **kwargs
    )


SCENARIOS = (
    Scenario(
        "vanishing",
        "vanishing gradients",
        Variant(
            "10 sigmoid layers",
            lambda: _mlp(
                keras.optimizers.Adam(1e-3),
                widths=64,
                depth=10,
                activation="sigmoid",
            ),
        ),
        Variant(
            "10 ReLU layers, He init",
            lambda: _mlp(keras.optimizers.Adam(1e-3), widths=64, depth=10),
        ),
        "ReLU activations with He initialization",
    ),
    Scenario(
        "exploding",
        "exploding gradients",
        Variant(
            "weights with stddev 3",
            lambda: _mlp(
                keras.optimizers.SGD(0.1),
                widths=64,
                depth=4,
                kernel_initializer=_HUGE,
            ),
        ),
        Variant(
            "same weights + batch norm",
            lambda: _mlp(
                keras.optimizers.SGD(0.1),
                widths=64,
                depth=4,
                kernel_initializer=_HUGE,
                batch_norm=True,
            ),
        ),
        "batch normalization after each linear layer",
    ),
    Scenario(
        "learning_rate",
        "dead ReLUs from a too-high learning rate",
        Variant(
            "SGD at rate 1.0",
            lambda: _mlp(keras.optimizers.SGD(1.0), widths=(64, 64, 64)),
        ),
        Variant(
            "same + AutoLRReducer",
            lambda: _mlp(keras.optimizers.SGD(1.0), widths=(64, 64, 64)),
            reduce_lr=True,
        ),
        "a lower learning rate, applied by AutoLRReducer when the watch "
        "reports it (with rollback)",
    ),
)


class _EpochProgress(keras.callbacks.Callback):
    """One progress line per run: redrawn each epoch on a terminal, printed
    once at the end otherwise (logs, CI)."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        line = f"    epoch {epoch + 1}/{self.params['epochs']}" + "".join(
            f"  {key} {logs[key]:.3f}"
            for key in ("loss", "accuracy", "val_accuracy")
            if key in logs
        )
        if self.out.isatty():
            self.out.write("\r\x1b[K" + line)
            self.out.flush()
        elif epoch + 1 == self.params["epochs"]:
            self.out.write(line)

    def on_train_end(self, logs=None):
        self.out.write("\n")


def _train(scenario, variant, kind, log_dir, epochs, out):
    x, y = load_digits()
    x_train, y_train = x[:TRAIN_SIZE], y[:TRAIN_SIZE]
    x_test, y_test = x[TRAIN_SIZE:], y[TRAIN_SIZE:]
    run_dir = os.path.join(log_dir, scenario.name, kind)
    keras.utils.set_random_seed(0)
    model = variant.build()

    def show(finding):
        prefix = "\r\x1b[K" if out.isatty() else ""
        print(
            f"{prefix}    ! step {finding.step:>4}: {finding.message}", file=out
        )

    watch = GradientWatch(
        (x_train[:PROBE_SIZE], y_train[:PROBE_SIZE]),
        every_n_steps=10,
        log_dir=run_dir,
        on_finding=show,
    )
    callbacks = [watch]
    if variant.reduce_lr:
        callbacks.append(
            AutoLRReducer(
                monitor="val_loss",
                factor=0.5,
                patience=2,
                watch=watch,
                rollback=True,
            )
        )
    callbacks += [keras.callbacks.TensorBoard(run_dir), _EpochProgress(out)]
    model.fit(
        x_train,
        y_train,
        validation_data=(x_test, y_test),
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return RunResult(
        scenario.name, kind, tuple(watch.findings), loss, accuracy, run_dir
    )


def run_demo(
    log_dir: str = "trainwatch_logs",
    epochs: int = 10,
    out: TextIO = sys.stdout,
    scenarios=SCENARIOS,
) -> list[RunResult]:
    """Runs the demo and prints its report.

    Args:
        log_dir: Where the TensorBoard logs go (`<log_dir>/<scenario>/
            <broken|fixed>`, each with Keras's `train`/`validation` runs and
            the watch's `gradient_watch` run).
        epochs: Epochs per training run.
        out: Stream for the report.
        scenarios: The scenarios to run (default: all three).

    Returns:
        The `RunResult`s, broken then fixed for each scenario.
    """
    total = 2 * len(scenarios)
    print(
        f"keras_trainwatch demo: {len(scenarios)} broken networks on the UCI "
        f"digits ({TRAIN_SIZE} training / {1797 - TRAIN_SIZE} test images), "
        "each caught by GradientWatch, then fixed.",
        file=out,
    )
    _replace_earlier_runs(log_dir, scenarios, out)
    results = []
    for scenario in scenarios:
        for kind, variant in (
            ("broken", scenario.broken),
            ("fixed", scenario.fixed),
        ):
            print(
                f"\n[{len(results) + 1}/{total}] {scenario.title}, {kind}: "
                f"{variant.label}",
                file=out,
            )
            results.append(
                _train(scenario, variant, kind, log_dir, epochs, out)
            )
    print(summary(results, scenarios), file=out)
    for note in _unfinished_fixes(results, epochs):
        print(note, file=out)
    print(
        "\nSee the runs in TensorBoard, and their findings as a table and a "
        f"chart:\n  {installed_command('tensorboard')} --logdir {log_dir}\n"
        f"  {installed_command('trainwatch')} report {log_dir} --plot flow.png",
        file=out,
    )
    return results


def _replace_earlier_runs(log_dir, scenarios, out):
    """Removes an earlier demo's runs from `log_dir` (only the folders this
    demo writes), saying so: two demos' events in one run folder would show
    every finding twice."""
    earlier = [
        os.path.join(log_dir, s.name)
        for s in scenarios
        if os.path.isdir(os.path.join(log_dir, s.name))
    ]
    if earlier:
        print(
            f"{log_dir} holds an earlier demo's runs: they are replaced by "
            "this one's (pass --log-dir to keep them).",
            file=out,
        )
        for folder in earlier:
            shutil.rmtree(folder)


def _unfinished_fixes(results, epochs):
    """Notes for scenarios whose fixed run did not beat its broken twin:
    too few epochs to tell the remedy's effect."""
    by_scenario = {}
    for result in results:
        by_scenario.setdefault(result.scenario, {})[result.variant] = result
    notes = []
    for name, runs in by_scenario.items():
        broken, fixed = runs.get("broken"), runs.get("fixed")
        if broken and fixed and fixed.test_accuracy <= broken.test_accuracy:
            notes.append(
                f"\nNote: in {epochs} epoch(s) the fixed {name} run did not "
                f"beat its broken twin ({fixed.test_accuracy:.1%} against "
                f"{broken.test_accuracy:.1%}): too short to show the remedy; "
                "the default of 10 epochs shows it."
            )
    return notes


def installed_command(name: str) -> str:
    """How to call a command installed beside this Python: its bare name
    when the shell finds that one, else its path (relative to the current
    folder when below it), e.g. `.venv/bin/tensorboard` after the README's
    set-up."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(beside):
        return name
    found = shutil.which(name)
    if found and os.path.samefile(found, beside):
        return name
    relative = os.path.relpath(beside)
    return beside if relative.startswith("..") else relative


def summary(results, scenarios=SCENARIOS) -> str:
    """The side-by-side table of the demo's runs."""
    remedies = {s.name: s.remedy for s in scenarios}
    found = [
        f"{len(r.findings)}: {', '.join(sorted({f.kind for f in r.findings}))}"
        if r.findings
        else "none"
        for r in results
    ]
    # As wide as the longest list of kinds: a cut name would read as another.
    width = max(len("findings"), *map(len, found)) + 2
    lines = [
        "",
        "Summary (test set):",
        (
            f"  {'scenario':<14}{'run':<8}{'findings':<{width}}{'loss':>6}"
            f"{'accuracy':>10}"
        ),
    ]
    for result, kinds in zip(results, found):
        lines.append(
            f"  {result.scenario:<14}{result.variant:<8}{kinds:<{width}}"
            f"{result.test_loss:>6.3f}{result.test_accuracy:>10.1%}"
        )
        if result.variant == "fixed":
            lines.append(f"  {'':<14}remedy: {remedies[result.scenario]}")
    return "\n".join(lines)
