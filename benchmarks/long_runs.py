"""Long runs: is the watch silent on slow but healthy training, and does it
still catch the broken twins?

Healthy but imperfect training over 50-200 epochs, several seeds each: slow
starts (sigmoid stacks under plain SGD that sit at the base-rate loss before
they fall), toy 2-D tasks (moons, circles, spirals, blobs) with tanh,
sigmoid and ReLU stacks on scaled and unscaled inputs, runs that converge
and flatten, runs on noisy labels that flatten above zero, a small CNN, an
LSTM, and fine-tuning from a trained model. Next to them, their broken
twins: learning rates of 1e-10 and 1e-6, labels shuffled away from the
inputs, saturation that blocks learning, a loss that does not fit the task,
an output that cannot reach the targets.

Each run is labelled by an independent oracle, never by the watch: its
held-out score (accuracy, or R^2 for regression) against chance and against
a known-good twin (the same network and data trained with Adam at 1e-2 for
the same epochs; for a case built broken, its fixed version), and its loss
curve. A run is *healthy* when it gets at
least half of the way from chance to its twin and its training loss ends at
least 10% below its first epoch's; *broken* when it gets less than a
quarter of the way (or its predictions are not finite); otherwise
*unclear*, counted on neither side.

The second part is the seeded-fault recipe of DeepFD on models of our own
(a binary MLP, a 4-class MLP, a regression MLP): learning rate far too high
or too low, the loss swapped, the optimizer swapped, the last activation
swapped, each trained 30 epochs and labelled by the same oracle against the
unmutated model (*benign* when it gets at least 90% of the way from chance
to it, *broken* under 70%).

Printed: one row per run (oracle label and evidence, findings with the
epoch first found), then per rule the worst value over the healthy runs
next to its threshold, and the summary lines: findings on healthy runs,
broken runs caught (with the first epoch). A healthy run that sat at the
base rate (our own count: its loss above 95% of the label entropy) for a
quarter of its epochs or more is counted apart: there a slow-start note is
what the watch should say.

    .venv/bin/python benchmarks/long_runs.py [--only PREFIX ...] [--seeds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import toy_tasks
from buggy_programs import dense_stack
from keras import layers as L

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

# --- models --------------------------------------------------------------------


def mlp(widths, activation, units, output, init="glorot_uniform", inputs=2):
    """A builder of `buggy_programs.dense_stack`'s MLP (hidden layers
    `hidden_0`, ... and a layer `output`)."""
    return lambda: dense_stack(inputs, widths, activation, units, output, init)


def cnn():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(16, 3, activation="relu", padding="same", name="conv_0"),
            L.MaxPooling2D(),
            L.Conv2D(32, 3, activation="relu", padding="same", name="conv_1"),
            L.GlobalAveragePooling2D(),
            L.Dense(10, activation="softmax", name="output"),
        ]
    )
    return model


def lstm():
    return keras.Sequential(
        [
            keras.Input((20, 1)),
            L.LSTM(16, name="lstm"),
            L.Dense(1, activation="sigmoid", name="output"),
        ]
    )


def digits_task(seed):
    x, y = load_digits(flatten=False)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return toy_tasks.Task("digits", x[:1200], y[:1200], x[1200:], y[1200:], 10)


def shuffled(task_of):
    """The task with its training labels permuted: nothing to learn from
    the inputs."""

    def make(seed):
        task = task_of(seed)
        y = np.random.default_rng(seed + 100).permutation(task.y)
        return dataclasses.replace(task, y=y)

    return make


# --- cases ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One configuration, run once per seed.

    Args:
        name: Row name (the seed is appended).
        built_as: `"healthy"` or `"broken"`: what it was built to be (the
            oracle decides the label).
        task: `seed -> Task`.
        build: `() -> keras.Model` (uncompiled).
        optimizer: `() -> optimizer`.
        loss: The compiled loss.
        epochs: Epochs of the watched fit.
        batch_size: Batch size.
        targets: `Task -> training targets` (default: `task.y`).
        pretrain: Epochs of Adam(1e-2) before the watched fit (fine-tuning).
        twin_optimizer: The known-good twin's optimizer.
        fixed: For a case built broken, `Case -> Case`: its fixed version,
            which the known-good twin trains instead of the case itself.
    """

    name: str
    built_as: str
    task: Callable
    build: Callable
    optimizer: Callable
    loss: str
    epochs: int
    batch_size: int = 32
    targets: Callable | None = None
    pretrain: int = 0
    twin_optimizer: Callable = lambda: keras.optimizers.Adam(1e-2)
    fixed: Callable | None = None


BCE = "binary_crossentropy"
SCE = "sparse_categorical_crossentropy"
MSE = "mean_squared_error"


def sgd(rate, momentum=0.0):
    return lambda: keras.optimizers.SGD(rate, momentum=momentum)


def adam(rate):
    return lambda: keras.optimizers.Adam(rate)


def as_float(task):
    return task.y.astype("float32")


def binary_mlp(widths, activation, init="glorot_uniform"):
    return mlp(widths, activation, 1, "sigmoid", init)


CASES = [
    # Slow starts: plain SGD at small rates on sigmoid stacks.
    Case(
        "slow_sigmoid3_sgd0.5_moons",
        "healthy",
        toy_tasks.moons,
        binary_mlp((32, 32, 32), "sigmoid"),
        sgd(0.5),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "slow_sigmoid3_sgd0.2_moons",
        "healthy",
        toy_tasks.moons,
        binary_mlp((32, 32, 32), "sigmoid"),
        sgd(0.2),
        BCE,
        150,
        targets=as_float,
    ),
    Case(
        "slow_sigmoid4_sgd0.5_circles",
        "healthy",
        toy_tasks.circles,
        binary_mlp((32, 32, 32, 32), "sigmoid"),
        sgd(0.5),
        BCE,
        150,
        targets=as_float,
    ),
    Case(
        "slow_sigmoid2_sgd0.1_moons",
        "healthy",
        toy_tasks.moons,
        binary_mlp((16, 16), "sigmoid"),
        sgd(0.1),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "slow_tanh_smallinit_sgd0.05_circles",
        "healthy",
        toy_tasks.circles,
        binary_mlp((32, 32), "tanh", keras.initializers.RandomNormal(0, 0.05)),
        sgd(0.05),
        BCE,
        150,
        targets=as_float,
    ),
    Case(
        "slow_tanh_init0.1_sgd0.05m_circles",
        "healthy",
        toy_tasks.circles,
        binary_mlp((32, 32), "tanh", keras.initializers.RandomNormal(0, 0.1)),
        sgd(0.05, 0.9),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "slow_tanh_init0.05_sgd0.05m_circles",
        "healthy",
        toy_tasks.circles,
        binary_mlp((32, 32), "tanh", keras.initializers.RandomNormal(0, 0.05)),
        sgd(0.05, 0.9),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "slow_tanh_init0.1_sgd0.1_circles",
        "healthy",
        toy_tasks.circles,
        binary_mlp((32, 32), "tanh", keras.initializers.RandomNormal(0, 0.1)),
        sgd(0.1),
        BCE,
        150,
        targets=as_float,
    ),
    Case(
        "slow_sigmoid3x16_sgd0.3_moons",
        "healthy",
        toy_tasks.moons,
        binary_mlp((16, 16, 16), "sigmoid"),
        sgd(0.3),
        BCE,
        100,
        targets=as_float,
    ),
    # Saturated but learning: tanh stacks on unscaled inputs.
    Case(
        "tanh_unscaled5_spirals",
        "healthy",
        lambda s: toy_tasks.spirals(seed=s, scale=5.0),
        mlp((64, 64), "tanh", 3, "softmax"),
        adam(1e-2),
        SCE,
        100,
    ),
    Case(
        "tanh_unscaled10_blobs",
        "healthy",
        lambda s: toy_tasks.blobs(seed=s, scale=10.0, features=2, classes=3),
        mlp((32, 32), "tanh", 3, "softmax", inputs=2),
        adam(1e-3),
        SCE,
        100,
    ),
    Case(
        "tanh_unscaled8_moons_sgd",
        "healthy",
        lambda s: toy_tasks.moons(seed=s, scale=8.0),
        binary_mlp((32, 32), "tanh"),
        sgd(0.05),
        BCE,
        100,
        targets=as_float,
    ),
    # Converge and flatten; noisy labels; ReLU stacks.
    Case(
        "relu_spirals_converges",
        "healthy",
        toy_tasks.spirals,
        mlp((64, 64, 64), "relu", 3, "softmax"),
        adam(3e-3),
        SCE,
        200,
    ),
    Case(
        "relu_moons_noisy_labels",
        "healthy",
        lambda s: toy_tasks.moons(seed=s, flip=0.2),
        binary_mlp((32, 32), "relu"),
        adam(1e-3),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "sigmoid_blobs_sgd",
        "healthy",
        lambda s: toy_tasks.blobs(seed=s),
        mlp((32, 32), "sigmoid", 4, "softmax", inputs=8),
        sgd(0.1),
        SCE,
        100,
    ),
    Case(
        "relu_regression_sgd",
        "healthy",
        toy_tasks.regression,
        mlp((32, 32), "relu", 1, None, inputs=8),
        sgd(0.01),
        MSE,
        100,
    ),
    # Small CNN and LSTM.
    Case(
        "cnn_digits_sgd", "healthy", digits_task, cnn, sgd(0.05, 0.9), SCE, 50
    ),
    Case(
        "lstm_sequences",
        "healthy",
        toy_tasks.sequences,
        lstm,
        adam(3e-3),
        BCE,
        50,
        targets=as_float,
    ),
    # Fine-tuning a trained model at a small rate.
    Case(
        "finetune_relu_moons",
        "healthy",
        toy_tasks.moons,
        binary_mlp((32, 32), "relu"),
        adam(1e-4),
        BCE,
        50,
        targets=as_float,
        pretrain=30,
    ),
    # Broken twins.
    Case(
        "broken_lr1e-10_sigmoid_moons",
        "broken",
        toy_tasks.moons,
        binary_mlp((32, 32, 32), "sigmoid"),
        sgd(1e-10),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "broken_lr1e-10_relu_moons",
        "broken",
        toy_tasks.moons,
        binary_mlp((32, 32), "relu"),
        adam(1e-10),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "broken_lr1e-6_relu_spirals",
        "broken",
        toy_tasks.spirals,
        mlp((64, 64, 64), "relu", 3, "softmax"),
        adam(1e-6),
        SCE,
        100,
    ),
    Case(
        "broken_lr1e-6_sgd_blobs",
        "broken",
        lambda s: toy_tasks.blobs(seed=s),
        mlp((32, 32), "sigmoid", 4, "softmax", inputs=8),
        sgd(1e-6),
        SCE,
        100,
    ),
    Case(
        "broken_shuffled_labels_moons",
        "broken",
        shuffled(toy_tasks.moons),
        binary_mlp((16, 16), "relu"),
        adam(1e-3),
        BCE,
        100,
        targets=as_float,
    ),
    Case(
        "broken_saturated_tanh_unscaled100",
        "broken",
        lambda s: toy_tasks.moons(seed=s, scale=100.0),
        binary_mlp((32, 32), "tanh", keras.initializers.RandomNormal(0, 1.0)),
        sgd(0.01),
        BCE,
        100,
        targets=as_float,
        fixed=lambda case: dataclasses.replace(
            case, task=toy_tasks.moons, build=binary_mlp((32, 32), "tanh")
        ),
    ),
    Case(
        "broken_mae_sigmoid_moons",
        "broken",
        toy_tasks.moons,
        binary_mlp((32, 32), "relu"),
        sgd(0.01),
        "mean_absolute_error",
        100,
        targets=as_float,
        fixed=lambda case: dataclasses.replace(case, loss=BCE),
    ),
    Case(
        "broken_sigmoid_output_regression",
        "broken",
        toy_tasks.regression,
        mlp((32, 32), "relu", 1, "sigmoid", inputs=8),
        adam(1e-2),
        MSE,
        100,
        fixed=lambda case: dataclasses.replace(
            case, build=mlp((32, 32), "relu", 1, None, inputs=8)
        ),
    ),
]


# --- running -------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    name: str
    label: str
    evidence: str
    findings: list
    worst: dict
    seconds: float
    slow_start: bool = False


TWINS: dict = {}


def fit(case, seed, optimizer, callbacks=()):
    """Trains `case`'s model for `seed` (after its pretraining, if any).

    Returns:
        `(model, task, losses)`: the losses of every epoch, pretraining
        included.
    """
    keras.utils.set_random_seed(seed)
    task = case.task(seed)
    targets = case.targets(task) if case.targets else task.y
    model = case.build()
    losses = []
    if case.pretrain:
        model.compile(keras.optimizers.Adam(1e-2), case.loss)
        history = model.fit(
            task.x,
            targets,
            epochs=case.pretrain,
            batch_size=case.batch_size,
            verbose=0,
        )
        losses += history.history["loss"]
    model.compile(optimizer(), case.loss)
    history = model.fit(
        task.x,
        targets,
        epochs=case.epochs,
        batch_size=case.batch_size,
        verbose=0,
        callbacks=list(callbacks),
    )
    losses += history.history["loss"]
    return model, task, losses


def twin_score(case, seed):
    """The held-out score of `case` trained by its known-good twin."""
    key = (case.name, seed)
    if key not in TWINS:
        good = case.fixed(case) if case.fixed else case
        model, task, _ = fit(good, seed, good.twin_optimizer)
        TWINS[key] = task.score(model)
        keras.backend.clear_session()
    return TWINS[key]


def base_rate_epochs(task, losses, loss):
    """Epochs before the loss first fell below 95% of the label entropy of
    the training labels (cross-entropies only; `None` otherwise): our own
    count of how long a run sat at the base rate."""
    if loss not in (BCE, SCE):
        return None
    _, counts = np.unique(task.y, return_counts=True)
    p = counts / counts.sum()
    entropy = float(-np.sum(p * np.log(p)))
    below = np.nonzero(np.asarray(losses) < 0.95 * entropy)[0]
    return int(below[0]) if len(below) else len(losses)


def oracle(score, chance, twin, losses, healthy_share, broken_share):
    """The label of a run and its evidence, from its held-out score and
    its loss curve."""
    gain = (score - chance) / (twin - chance) if twin > chance else math.nan
    finite = bool(np.isfinite(losses).all())
    fell = finite and losses[-1] <= 0.9 * losses[0]
    evidence = (
        f"score {score:.2f} (chance {chance:.2f}, twin {twin:.2f}: "
        f"{gain:.0%} of the way); loss {losses[0]:.3g} -> {losses[-1]:.3g}"
    )
    if not np.isfinite(score) or not finite or not gain >= broken_share:
        return "broken", evidence
    if gain >= healthy_share and fell:
        return "healthy", evidence
    return "unclear", evidence


class StallTracker(keras.callbacks.Callback):
    """The longest stall at the base rate that the loss-progress rule
    counted over the run (read at each epoch's end, after the watch)."""

    def __init__(self, watch):
        super().__init__()
        self.watch = watch
        self.longest = 0

    def on_epoch_end(self, epoch, logs=None):
        self.longest = max(
            self.longest,
            self.watch.detectors.loss_progress.stalled_at_base_rate,
        )


def worst_values(watch, tracker):
    """What each rule looked at, at its worst over the run."""
    records = list(watch.records)
    saturated = [s.saturated for r in records for s in r.saturation]
    return {
        "stalled/wait": tracker.longest / watch.detectors.loss_progress.wait,
        "spike z": watch.detectors.spike_detector.largest_z,
        "saturated share": max(saturated, default=0.0),
        "dead share": max(
            (d.dead_units / d.units for r in records for d in r.dead_units),
            default=0.0,
        ),
        "grad norm": max(
            (layer.grad_norm for r in records for layer in r.layers),
            default=0.0,
        ),
    }


THRESHOLDS = {
    "stalled/wait": 1.0,
    "spike z": 6.0,
    "saturated share": 0.918,
    "dead share": 0.5,
    "grad norm": 1e3,
}


def run(case, seed, reference, healthy_share, broken_share):
    """Trains `case` watched and labels it against `reference(case, seed)`."""
    started = time.perf_counter()
    twin = reference(case, seed)
    task = case.task(seed)
    targets = case.targets(task) if case.targets else task.y
    watch = ktw.GradientWatch(
        (task.x[:256], targets[:256]),
        on_finding=lambda f: None,
        keep_records=None,
    )
    tracker = StallTracker(watch)
    model, task, losses = fit(case, seed, case.optimizer, [watch, tracker])
    label, evidence = oracle(
        task.score(model),
        task.chance,
        twin,
        losses,
        healthy_share,
        broken_share,
    )
    stretch = base_rate_epochs(task, losses[case.pretrain :], case.loss)
    if stretch is not None:
        evidence += f"; {stretch} of {case.epochs} epochs at the base rate"
    result = Result(
        f"{case.name}/s{seed}",
        label,
        evidence,
        [(f.kind, f.layer, f.epoch, f.message) for f in watch.findings],
        worst_values(watch, tracker),
        time.perf_counter() - started,
        slow_start=stretch is not None and stretch >= 0.25 * case.epochs,
    )
    keras.backend.clear_session()
    return result


# --- seeded faults ---------------------------------------------------------------

BASES = {
    "binary": Case(
        "binary",
        "healthy",
        toy_tasks.moons,
        binary_mlp((32, 32), "relu"),
        adam(1e-3),
        BCE,
        30,
        targets=as_float,
    ),
    "multiclass": Case(
        "multiclass",
        "healthy",
        lambda s: toy_tasks.blobs(seed=s),
        mlp((32, 32), "relu", 4, "softmax", inputs=8),
        adam(1e-3),
        SCE,
        30,
    ),
    "regression": Case(
        "regression",
        "healthy",
        toy_tasks.regression,
        mlp((32, 32), "relu", 1, None, inputs=8),
        adam(1e-3),
        MSE,
        30,
    ),
}
OUTPUTS = {
    "binary": ("relu", "elu", "tanh", None, "softplus"),
    "multiclass": ("softplus", "relu", "sigmoid", None),
    "regression": ("relu", "sigmoid", "tanh"),
}
SWAPPED_LOSSES = {
    "binary": (MSE, "hinge"),
    # On one-hot targets: losses that take the class index fail to run.
    "multiclass": (MSE, "categorical_hinge"),
    "regression": ("mean_absolute_error", BCE),
}


def one_hot_of(task):
    return toy_tasks.one_hot(task.y, task.classes)


def mutants():
    """The DeepFD-style mutants of each base model."""
    for name, base in BASES.items():
        yield dataclasses.replace(
            base, name=f"{name}_lr_x1000", optimizer=adam(1.0)
        )
        yield dataclasses.replace(
            base, name=f"{name}_lr_1e-7", optimizer=adam(1e-7)
        )
        for loss in SWAPPED_LOSSES[name]:
            yield dataclasses.replace(
                base,
                name=f"{name}_loss_{loss}",
                loss=loss,
                targets=one_hot_of if name == "multiclass" else base.targets,
            )
        for optimizer, make in (
            ("sgd", sgd(1e-3)),
            ("adadelta", lambda: keras.optimizers.Adadelta()),
            ("rmsprop", lambda: keras.optimizers.RMSprop(1e-3)),
        ):
            yield dataclasses.replace(
                base, name=f"{name}_opt_{optimizer}", optimizer=make
            )
        inputs = 2 if name == "binary" else 8
        units = {"binary": 1, "multiclass": 4, "regression": 1}[name]
        for output in OUTPUTS[name]:
            yield dataclasses.replace(
                base,
                name=f"{name}_output_{output or 'linear'}",
                build=mlp((32, 32), "relu", units, output, inputs=inputs),
            )


BASE_SCORES: dict = {}


def base_score(case, seed):
    """The held-out score of the unmutated model of `case`."""
    base = BASES[case.name.split("_")[0]]
    key = (base.name, seed)
    if key not in BASE_SCORES:
        model, task, _ = fit(base, seed, base.optimizer)
        BASE_SCORES[key] = task.score(model)
        keras.backend.clear_session()
    return BASE_SCORES[key]


# --- report ----------------------------------------------------------------------


def describe(findings):
    if not findings:
        return "-"
    return ", ".join(
        kind + (f"@{layer}" if layer else "") + f" (epoch {epoch})"
        for kind, layer, epoch, _ in findings
    )


def print_row(result):
    print(
        f"| {result.name} | {result.label} | {result.evidence} | "
        f"{describe(result.findings)} | {result.seconds:.0f} |",
        flush=True,
    )


def summary(title, results, good="healthy"):
    slow = [r for r in results if r.label == good and r.slow_start]
    healthy = [r for r in results if r.label == good and not r.slow_start]
    broken = [r for r in results if r.label == "broken"]
    alarms = [r for r in healthy if r.findings]
    if slow:
        noted = [
            r
            for r in slow
            if {f[0] for f in r.findings} == {"loss_not_improving"}
        ]
        print(
            f"\n{title}: {good} runs that sat at the base rate for a quarter "
            f"of their epochs or more (a slow-start note is due): "
            f"{len(noted)}/{len(slow)} got it and nothing else"
        )
    caught = [r for r in broken if r.findings]
    print(
        f"\n{title}: findings on {good} runs {len(alarms)}/{len(healthy)}"
        f" ({', '.join(r.name for r in alarms) or 'none'}); broken runs "
        f"caught {len(caught)}/{len(broken)}"
        f" (missed: {', '.join(r.name for r in broken if not r.findings) or 'none'}); "
        f"unclear {len(results) - len(healthy) - len(slow) - len(broken)}"
    )
    for r in alarms:
        for _kind, _, epoch, message in r.findings:
            print(f"  {r.name}, epoch {epoch}: {message}")
    if not healthy:
        return
    print(f"worst values over the {good} runs (threshold):")
    for key, threshold in THRESHOLDS.items():
        values = [r.worst[key] for r in healthy]
        worst = max(values)
        print(f"  {key}: {worst:.3g} ({threshold:g})")


HEADER = (
    "| run | oracle | evidence | findings (epoch first found) | s |\n"
    "|---|---|---|---|---|"
)


def main(only, seeds, skip_mutants):
    started = time.perf_counter()
    print(HEADER)
    long_results = []
    for case in CASES:
        if only and not any(case.name.startswith(p) for p in only):
            continue
        for seed in range(seeds):
            result = run(case, seed, twin_score, 0.5, 0.25)
            long_results.append(result)
            print_row(result)
    if long_results:
        summary("long runs", long_results)
    if skip_mutants:
        return
    print("\n" + HEADER)
    mutant_results = []
    for case in mutants():
        if only and not any(case.name.startswith(p) for p in only):
            continue
        for seed in range(2):
            result = run(case, seed, base_score, 0.9, 0.7)
            result.label = {"healthy": "benign"}.get(result.label, result.label)
            mutant_results.append(result)
            print_row(result)
    if mutant_results:
        summary("seeded faults", mutant_results, good="benign")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--skip-mutants", action="store_true")
    args = parser.parse_args()
    main(args.only, args.seeds, args.skip_mutants)
