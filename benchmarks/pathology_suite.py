"""The pathology suite: does GradientWatch catch every real fault, at the first
probe where it shows, and stay quiet on healthy networks?

Each case trains a real model on real (the shipped digits) or generated data
and carries a label: vanishing_gradients, exploding_gradients, dead_relu or
healthy. The label is checked inside the case by an independent measurement,
taken right after every probe with separate code (an eager GradientTape and
the layers' outputs in training mode, batch-norm statistics and seeds put
back afterwards):

- vanishing: the lowest layer's gradient norm is below 1e-3 of the top
  layer's, or, for sequence inputs of 20 steps or more, the gradient reaching
  the first tenth of the input steps is below 1e-3 of the last tenth's;
- exploding: a layer's gradient norm above 1e3, or a non-finite loss or
  gradient;
- dead_relu: at least half the units of a ReLU layer output 0 for every
  probe sample;
- healthy: none of these at any probe, and the loss went down.

Printed: a table (case, label, label confirmed, findings, probe that first
showed the fault, probe that caught it, for exploding cases whether the
finding came before the loss turned NaN, wall time of the watched fit
without the independent measurements), the summary line
`recall R/N, false alarms F/M, median detection probe P`, and a second table
of what the detectors look at, at its most extreme over each run, with the
worst values among the healthy controls: the evidence behind the default
thresholds.

    python benchmarks/pathology_suite.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow_if_backend

import_tensorflow_if_backend()  # without its start-up noise on stderr
import keras
import numpy as np
from keras import layers as L

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits
from keras_trainwatch.models import build_mlp, build_residual_mlp

VANISHING, EXPLODING, DEAD, HEALTHY = (
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relu",
    "healthy",
)
# What the independent measurement may see besides the labels.
NO_GRADIENT = "no_gradient"
CE = "sparse_categorical_crossentropy"


# --- data ------------------------------------------------------------------


def digits():
    return load_digits()


def images():
    return load_digits(flatten=False)


def regression():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0)
    return x, ((y - y.mean()) / y.std()).astype("float32")


def long_sequences():
    """The class is the sign of the first of 100 steps: long memory."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1024, 100, 1)).astype("float32")
    return x, (x[:, 0, 0] > 0).astype("int32")


def short_sequences():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1024, 10, 4)).astype("float32")
    return x, (x[:, :, 0].sum(axis=1) > 0).astype("int32")


def tokens():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 1000, size=(1024, 20)).astype("int32")
    return x, ((x < 100).sum(axis=1) > 2).astype("int32")


# --- models ----------------------------------------------------------------


def mlp(
    depth,
    activation="relu",
    init="he_normal",
    bias=0.0,
    width=64,
    inputs=64,
    outputs=10,
    batch_norm=False,
    dropout=0.0,
    regularizer=None,
):
    """`bias` is a number for all hidden layers or {layer index: bias}."""
    model = keras.Sequential([keras.Input((inputs,))])
    for i in range(depth):
        b = bias.get(i, 0.0) if isinstance(bias, dict) else bias
        model.add(
            L.Dense(
                width,
                activation=None if batch_norm else activation,
                kernel_initializer=init,
                kernel_regularizer=regularizer,
                bias_initializer=keras.initializers.Constant(b),
            )
        )
        if batch_norm:
            model.add(L.BatchNormalization())
            model.add(L.Activation(activation))
        if dropout:
            model.add(L.Dropout(dropout))
    model.add(L.Dense(outputs, activation=_output_activation(outputs)))
    return model


def cnn(
    depth=2, activation="relu", init="he_normal", bias=0.0, batch_norm=False
):
    model = keras.Sequential([keras.Input((8, 8, 1))])
    for _ in range(depth):
        model.add(
            L.Conv2D(
                16,
                3,
                padding="same",
                kernel_initializer=init,
                activation=None if batch_norm else activation,
                bias_initializer=keras.initializers.Constant(bias),
            )
        )
        if batch_norm:
            model.add(L.BatchNormalization())
            model.add(L.Activation(activation))
    model.add(L.GlobalAveragePooling2D())
    model.add(L.Dense(10, activation="softmax"))
    return model


def rnn(cell, steps, features, units=32, outputs=2, **cell_kwargs):
    return keras.Sequential(
        [
            keras.Input((steps, features)),
            L.Dense(8, name="input_projection"),
            cell(units, **cell_kwargs),
            L.Dense(outputs, activation="softmax"),
        ]
    )


def _output_activation(outputs):
    return "softmax" if outputs > 1 else None


def normal(stddev):
    return keras.initializers.RandomNormal(stddev=stddev)


# --- cases -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    label: str
    build: Callable[[], keras.Model]
    optimizer: Callable[[], keras.optimizers.Optimizer]
    data: Callable
    loss: str = CE
    epochs: int = 3


def adam(lr=1e-3):
    return lambda: keras.optimizers.Adam(lr)


def sgd(lr, momentum=0.0):
    return lambda: keras.optimizers.SGD(lr, momentum=momentum)


CASES = [
    # vanishing gradients
    Case(
        "sigmoid_mlp_10_adam",
        VANISHING,
        lambda: mlp(10, "sigmoid", "glorot_uniform"),
        adam(),
        digits,
    ),
    Case(
        "sigmoid_mlp_20_sgd",
        VANISHING,
        lambda: mlp(20, "sigmoid", "glorot_uniform", width=32),
        sgd(0.1),
        digits,
    ),
    Case(
        "tanh_mlp_tiny_init",
        VANISHING,
        lambda: mlp(8, "tanh", normal(0.01)),
        sgd(0.05),
        digits,
    ),
    Case(
        "relu_mlp_tiny_init",
        VANISHING,
        lambda: mlp(6, "relu", normal(0.001)),
        sgd(0.05),
        digits,
    ),
    Case(
        "sigmoid_cnn_6",
        VANISHING,
        lambda: cnn(6, "sigmoid", "glorot_uniform"),
        adam(),
        images,
    ),
    Case(
        "sigmoid_mlp_regression",
        VANISHING,
        lambda: mlp(10, "sigmoid", "glorot_uniform", inputs=16, outputs=1),
        sgd(0.05),
        regression,
        "mse",
    ),
    Case(
        "simple_rnn_100_steps",
        VANISHING,
        lambda: rnn(
            L.SimpleRNN,
            100,
            1,
            recurrent_initializer=keras.initializers.Orthogonal(0.5),
        ),
        adam(),
        long_sequences,
    ),
    Case(
        "lstm_100_steps",
        VANISHING,
        lambda: rnn(L.LSTM, 100, 1),
        adam(),
        long_sequences,
    ),
    # exploding gradients
    Case(
        "relu_mlp_init_std_3",
        EXPLODING,
        lambda: mlp(4, "relu", normal(3.0)),
        sgd(0.1),
        digits,
    ),
    Case(
        "sgd_lr_0.35_regression",
        EXPLODING,
        lambda: mlp(3, inputs=16, outputs=1),
        sgd(0.35),
        regression,
        "mse",
    ),
    Case(
        "deep_linear_20",
        EXPLODING,
        lambda: mlp(20, None, normal(1.5 / 8), inputs=16, outputs=1),
        sgd(0.01),
        regression,
        "mse",
    ),
    Case(
        "linear_rnn_recurrent_gain_1.5",
        EXPLODING,
        lambda: rnn(
            L.SimpleRNN,
            50,
            4,
            activation=None,
            recurrent_initializer=keras.initializers.Orthogonal(1.5),
        ),
        sgd(0.01),
        lambda: _sequences(50),
    ),
    Case(
        "cnn_init_std_3",
        EXPLODING,
        lambda: cnn(3, "relu", normal(3.0)),
        sgd(0.05),
        images,
    ),
    Case("sgd_lr_3_digits", EXPLODING, lambda: mlp(3), sgd(3.0), digits),
    Case(
        "wide_relu_init_std_1",
        EXPLODING,
        lambda: mlp(4, "relu", normal(1.0), width=256),
        sgd(0.1),
        digits,
    ),
    # dead ReLUs
    Case(
        "bias_minus_20_layer_1",
        DEAD,
        lambda: mlp(3, bias={1: -20.0}),
        adam(),
        digits,
    ),
    Case("bias_minus_3_all", DEAD, lambda: mlp(3, bias=-3.0), adam(), digits),
    Case(
        "adam_lr_0.5_regression",
        DEAD,
        lambda: mlp(3, inputs=16, outputs=1),
        adam(0.5),
        regression,
        "mse",
    ),
    Case(
        "rmsprop_lr_0.3_regression",
        DEAD,
        lambda: mlp(3, inputs=16, outputs=1),
        lambda: keras.optimizers.RMSprop(0.3),
        regression,
        "mse",
    ),
    Case("sgd_lr_1_digits", DEAD, lambda: mlp(3), sgd(1.0), digits),
    Case("cnn_bias_minus_20", DEAD, lambda: cnn(2, bias=-20.0), adam(), images),
    # healthy controls
    Case("he_relu_mlp_adam", HEALTHY, lambda: mlp(4), adam(), digits),
    Case("he_relu_mlp_sgd", HEALTHY, lambda: mlp(4), sgd(0.05), digits),
    Case("deep_relu_mlp_10", HEALTHY, lambda: mlp(10), adam(), digits),
    Case(
        "bn_dropout_mlp",
        HEALTHY,
        lambda: mlp(4, batch_norm=True, dropout=0.3),
        adam(),
        digits,
    ),
    Case(
        "shallow_tanh",
        HEALTHY,
        lambda: mlp(2, "tanh", "glorot_uniform"),
        adam(),
        digits,
    ),
    Case(
        "shallow_sigmoid",
        HEALTHY,
        lambda: mlp(2, "sigmoid", "glorot_uniform"),
        adam(1e-2),
        digits,
    ),
    Case(
        "regression_relu",
        HEALTHY,
        lambda: mlp(3, inputs=16, outputs=1),
        adam(),
        regression,
        "mse",
    ),
    Case(
        "regression_tanh",
        HEALTHY,
        lambda: mlp(3, "tanh", "glorot_uniform", inputs=16, outputs=1),
        adam(),
        regression,
        "mse",
    ),
    Case("relu_cnn", HEALTHY, lambda: cnn(2), adam(), images),
    Case("bn_cnn", HEALTHY, lambda: cnn(3, batch_norm=True), adam(), images),
    Case(
        "residual_mlp_8_blocks",
        HEALTHY,
        lambda: build_residual_mlp((64,), 10, width=32, blocks=8),
        adam(),
        digits,
    ),
    Case(
        "builder_bn_mlp_20",
        HEALTHY,
        lambda: build_mlp(
            (64,), 10, widths=32, depth=20, batch_norm=True, dropout=0.0
        ),
        sgd(0.1, 0.9),
        digits,
    ),
    Case(
        "lstm_short_sequences",
        HEALTHY,
        lambda: rnn(L.LSTM, 10, 4),
        adam(),
        short_sequences,
    ),
    Case(
        "gru_short_sequences",
        HEALTHY,
        lambda: rnn(L.GRU, 10, 4),
        adam(),
        short_sequences,
    ),
    Case(
        "embedding_model",
        HEALTHY,
        lambda: keras.Sequential(
            [
                keras.Input((20,), dtype="int32"),
                L.Embedding(1000, 16),
                L.GlobalAveragePooling1D(),
                L.Dense(32, activation="relu", kernel_initializer="he_normal"),
                L.Dense(2, activation="softmax"),
            ]
        ),
        adam(),
        tokens,
    ),
    Case(
        "leaky_relu_mlp", HEALTHY, lambda: mlp(4, "leaky_relu"), adam(), digits
    ),
    Case(
        "selu_mlp",
        HEALTHY,
        lambda: mlp(4, "selu", "lecun_normal"),
        adam(),
        digits,
    ),
    Case(
        "l2_regularized_mlp",
        HEALTHY,
        lambda: mlp(3, regularizer=keras.regularizers.L2(1e-3)),
        adam(),
        digits,
    ),
    Case(
        "binary_classifier",
        HEALTHY,
        lambda: mlp(3, outputs=2),
        adam(),
        lambda: _binary_digits(),
    ),
    Case(
        "rmsprop_relu_mlp",
        HEALTHY,
        lambda: mlp(3),
        lambda: keras.optimizers.RMSprop(1e-3),
        digits,
    ),
    Case(
        "sgd_momentum_relu_mlp", HEALTHY, lambda: mlp(3), sgd(0.01, 0.9), digits
    ),
    Case(
        "wide_shallow_relu", HEALTHY, lambda: mlp(1, width=512), adam(), digits
    ),
]


def _sequences(steps):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1024, steps, 4)).astype("float32")
    return x, (x[:, :, 0].mean(axis=1) > 0).astype("int32")


def _binary_digits():
    x, y = load_digits()
    return x, (y % 2).astype("int32")


# --- independent measurements ------------------------------------------------


class IndependentMeasure:
    """The label checks, with code of their own (not the probe's): the
    backend's own gradient call (an eager `tf.GradientTape`, `jax.grad` of
    Keras's `compute_loss_and_updates`, `torch.autograd.grad`, see
    `raw_gradients`) and the layers' outputs, in training mode like the
    probe, with every non-trainable variable (batch-norm statistics, seed
    states) put back afterwards so that measuring does not change
    training."""

    def __init__(self, model):
        self.model = model
        self.relu_layers = [
            layer
            for layer in model.layers
            if getattr(getattr(layer, "activation", None), "__name__", "")
            == "relu"
        ]
        self.outputs = None
        if self.relu_layers:
            self.outputs = keras.Model(
                model.inputs, [lyr.output for lyr in self.relu_layers]
            )

    def faults(self, x, y):
        """The set of faults visible now."""
        # JAX's fit keeps its state off the model between epochs' ends.
        getattr(self.model, "jax_state_sync", lambda: None)()
        state = [
            keras.ops.convert_to_numpy(v)
            for v in self.model.non_trainable_variables
        ]
        try:
            return self._faults(keras.ops.convert_to_tensor(x), y)
        finally:
            for variable, value in zip(
                self.model.non_trainable_variables, state
            ):
                variable.assign(value)

    def _faults(self, x, y):
        watch_input = keras.backend.is_float_dtype(
            keras.backend.standardize_dtype(x.dtype)
        )
        variables = self.model.trainable_variables
        loss, grads, input_grad = raw_gradients(self.model, x, y, watch_input)
        by_variable = {
            id(v): np.asarray(g, dtype=np.float64)
            for v, g in zip(variables, grads)
            if g is not None
        }
        norms, finite = [], bool(np.isfinite(loss))
        for layer in _flat_layers(self.model):
            values = [
                by_variable[id(v)]
                for v in layer.trainable_variables
                if id(v) in by_variable
            ]
            if values:
                finite &= all(np.all(np.isfinite(a)) for a in values)
                norms.append(
                    math.sqrt(sum(float(np.sum(a * a)) for a in values))
                )
        faults = set()
        if finite and norms and max(norms) == 0:
            # Every gradient exactly 0: on JAX and PyTorch, a softmax
            # saturated into cross-entropy (computed on clipped
            # probabilities there, from logits on TensorFlow).
            faults.add(NO_GRADIENT)
        if not finite or max(norms, default=0.0) > 1e3:
            faults.add(EXPLODING)
        elif len(norms) > 1 and 0 < norms[0] < 1e-3 * norms[-1]:
            faults.add(VANISHING)
        if (
            input_grad is not None
            and len(input_grad.shape) == 3
            and input_grad.shape[1] >= 20
        ):
            per_step = np.sqrt(
                np.sum(
                    np.square(np.asarray(input_grad, np.float64)), axis=(0, 2)
                )
            )
            tenth = per_step.shape[0] // 10
            if (
                per_step[-tenth:].mean() > 0
                and per_step[:tenth].mean() < 1e-3 * per_step[-tenth:].mean()
            ):
                faults.add(VANISHING)
        if self.outputs is not None:
            outputs = self.outputs(x, training=True)
            for out in (
                outputs if isinstance(outputs, (list, tuple)) else [outputs]
            ):
                out = keras.ops.convert_to_numpy(out)
                alive = np.any(out.reshape(-1, out.shape[-1]) != 0, axis=0)
                if 1.0 - alive.mean() >= 0.5:
                    faults.add(DEAD)
        return faults


def raw_gradients(model, x, y, watch_input):
    """`(loss, gradients, input_gradient)` in training mode, with the
    backend's own gradient call and nothing of the package: gradients as
    numpy arrays in `model.trainable_variables` order (`None` where the
    loss does not reach), the input's gradient `None` unless
    `watch_input`."""
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            if watch_input:
                tape.watch(x)
            loss = model.compute_loss(x, y, model(x, training=True))
        grads = tape.gradient(loss, variables + ([x] if watch_input else []))
    elif backend == "jax":
        import jax

        def loss_of(trainable, inputs):
            loss, _ = model.compute_loss_and_updates(
                trainable,
                [v.value for v in model.non_trainable_variables],
                [v.value for v in model.metrics_variables],
                inputs,
                y,
                None,
                training=True,
                optimizer_variables=[
                    v.value for v in model.optimizer.variables
                ],
            )
            return loss

        weights = [v.value for v in variables]
        if watch_input:
            loss, (grads, input_grad) = jax.value_and_grad(loss_of, (0, 1))(
                weights, x
            )
            grads = list(grads) + [input_grad]
        else:
            loss, grads = jax.value_and_grad(loss_of)(weights, x)
        # JAX's zeros for weights the loss does not reach stand as they are:
        # a layer with zero gradient is what the labels look for anyway.
    else:
        import torch

        inputs = x.detach().requires_grad_(True) if watch_input else x
        loss = model.compute_loss(inputs, y, model(inputs, training=True))
        sources = [v.value for v in variables] + (
            [inputs] if watch_input else []
        )
        grads = list(torch.autograd.grad(loss, sources, allow_unused=True))
    grads = [
        None if g is None else keras.ops.convert_to_numpy(g) for g in grads
    ]
    input_grad = grads.pop() if watch_input else None
    return float(keras.ops.convert_to_numpy(loss)), grads, input_grad


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


# --- running ---------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    case: Case
    confirmed: bool
    findings: list
    first_visible: int | None
    first_caught: int | None
    before_nan: str
    seconds: float
    records: list
    seen: frozenset = frozenset()


def run(case: Case, probe_samples: int = 256) -> Outcome:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    x, y = case.data()
    probe_x, probe_y = x[:probe_samples], y[:probe_samples]
    model = case.build()
    model.compile(case.optimizer(), case.loss)
    watch = ktw.GradientWatch(
        (probe_x, probe_y),
        probe_samples=None,
        every_n_steps=10,
        on_finding=lambda f: None,
        keep_records=None,
    )
    measure = IndependentMeasure(model)
    visible, probe_steps, measuring = [], [], [0.0]

    def after_probe(update):
        if update.record is None:
            return  # a spike found between probes
        record = update.record
        started = time.perf_counter()
        probe_steps.append(record.step)
        visible.append(measure.faults(probe_x, probe_y))
        measuring[0] += time.perf_counter() - started

    watch.subscribe(after_probe)
    losses = []
    batch_losses = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(logs["loss"])
    )
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        epochs=case.epochs,
        batch_size=32,
        verbose=0,
        callbacks=[watch, batch_losses],
    )
    seconds = time.perf_counter() - start - measuring[0]

    probe_index = {step: i for i, step in enumerate(probe_steps)}
    kinds_seen = [kinds for kinds in visible]
    if case.label == HEALTHY:
        epoch_losses = history.history["loss"]
        confirmed = not any(kinds_seen) and epoch_losses[-1] < epoch_losses[0]
        first_visible = first_caught = None
    else:
        first_visible = next(
            (i for i, kinds in enumerate(kinds_seen) if case.label in kinds),
            None,
        )
        confirmed = first_visible is not None
        caught = [f for f in watch.findings if f.kind == case.label]
        first_caught = min((probe_index[f.step] for f in caught), default=None)
    before_nan = ""
    if case.label == EXPLODING:
        nan_step = next(
            (i + 1 for i, loss in enumerate(losses) if not math.isfinite(loss)),
            None,
        )
        caught_step = min(
            (f.step for f in watch.findings if f.kind == EXPLODING),
            default=None,
        )
        if nan_step is None:
            before_nan = "no NaN"
        elif caught_step is None:
            before_nan = "missed"
        else:
            before_nan = (
                "yes"
                if caught_step < nan_step
                else f"no (NaN at step {nan_step})"
            )
    return Outcome(
        case,
        confirmed,
        list(watch.findings),
        first_visible,
        first_caught,
        before_nan,
        seconds,
        list(watch.records),
        frozenset().union(*kinds_seen),
    )


def extremes(records):
    """What the detectors look at, at its most extreme over a run: the
    smallest ratio of a layer's |g|/|w| to the largest one above it, the
    largest per-layer gradient norm, the largest growth of a layer's norm over
    the 5 probes before, the largest dead share, and the smallest
    early/late gradient ratio of a recurrent layer."""
    min_ratio, max_norm, max_growth, max_dead, min_time = (
        math.inf,
        0.0,
        0.0,
        0.0,
        math.inf,
    )
    max_saturated, min_spread = 0.0, math.inf
    for i, record in enumerate(records):
        relative = [layer.relative_grad for layer in record.layers]
        for depth in range(len(relative) - 1):
            above = [r for r in relative[depth + 1 :] if math.isfinite(r)]
            if above and relative[depth] > 0 and max(above) > 0:
                min_ratio = min(min_ratio, relative[depth] / max(above))
        for layer in record.layers:
            if not math.isfinite(layer.grad_norm):
                continue
            max_norm = max(max_norm, layer.grad_norm)
            earlier = [
                norm
                for r in records[max(0, i - 5) : i]
                for lyr in r.layers
                if lyr.name == layer.name
                and math.isfinite(norm := lyr.grad_norm)
                and norm > 0
            ]
            if earlier:
                max_growth = max(max_growth, layer.grad_norm / min(earlier))
        max_dead = max(max_dead, record.max_dead_fraction)
        for stats in record.saturation:
            max_saturated = max(max_saturated, stats.saturated)
        for stats in record.unit_spread:
            spread = max(stats.weight_spread, stats.grad_spread)
            if math.isfinite(spread):
                min_spread = min(min_spread, spread)
        for time_stats in record.time_gradients:
            if (time_stats.steps or 0) >= 20 and time_stats.late_grad > 0:
                min_time = min(min_time, time_stats.ratio)
    return (
        min_ratio,
        max_norm,
        max_growth,
        max_dead,
        min_time,
        max_saturated,
        min_spread,
    )


def summarize_findings(findings):
    counts = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    short = {
        VANISHING: "van",
        EXPLODING: "exp",
        DEAD: "dead",
        "loss_spike": "spike",
        "saturated_units": "sat",
        "symmetric_units": "sym",
        "unscaled_data": "scale",
        "loss_not_improving": "stuck",
        "loss_oscillating": "osc",
        "missing_activation": "noact",
        "mismatched_output": "output",
    }
    return " ".join(f"{short.get(k, k)}x{n}" for k, n in counts.items()) or "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument(
        "--probe-samples",
        type=int,
        default=256,
        help="samples in the probe batch (default 256)",
    )
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or c.name in args.only]
    print(
        f"{'case':<31}{'label':<21}{'confirmed':<10}{'findings':<18}{'visible':>8}"
        f"{'caught':>7}  {'before NaN':<12}{'time s':>7}"
    )
    outcomes = []
    for case in cases:
        outcome = run(case, args.probe_samples)
        outcomes.append(outcome)
        print(
            f"{case.name:<31}{case.label:<21}{'yes' if outcome.confirmed else 'NO':<10}"
            f"{summarize_findings(outcome.findings):<18}"
            f"{'' if outcome.first_visible is None else outcome.first_visible:>8}"
            f"{'' if outcome.first_caught is None else outcome.first_caught:>7}  "
            f"{outcome.before_nan:<12}{outcome.seconds:>7.1f}",
            flush=True,
        )
    faulty = [o for o in outcomes if o.case.label != HEALTHY]
    controls = [o for o in outcomes if o.case.label == HEALTHY]
    recall = sum(o.first_caught is not None for o in faulty)
    false_alarms = sum(bool(o.findings) for o in controls)
    detection = [o.first_caught for o in faulty if o.first_caught is not None]
    on_time = sum(
        o.first_caught is not None and o.first_caught == o.first_visible
        for o in faulty
    )
    unconfirmed = [
        f"{o.case.name} (measured: {', '.join(sorted(o.seen)) or 'nothing'}; "
        f"found: {', '.join(sorted({f.kind for f in o.findings})) or 'nothing'})"
        for o in outcomes
        if not o.confirmed
    ]
    print(
        f"\nrecall {recall}/{len(faulty)}, false alarms {false_alarms}/{len(controls)}, "
        f"median detection probe {statistics.median(detection) if detection else 'n/a'}"
    )
    print(
        f"caught at the first probe where the fault was visible: {on_time}/{len(faulty)}"
    )
    exploding = [
        o
        for o in faulty
        if o.case.label == EXPLODING and o.before_nan != "no NaN"
    ]
    print(
        f"exploding cases whose loss turned NaN: finding came first in "
        f"{sum(o.before_nan == 'yes' for o in exploding)}/{len(exploding)}"
    )
    if unconfirmed:
        print(
            f"labels not confirmed by the independent measurement: {', '.join(unconfirmed)}"
        )
        confirmed = [o for o in faulty if o.confirmed]
        print(
            "over the confirmed labels: recall "
            f"{sum(o.first_caught is not None for o in confirmed)}/{len(confirmed)}"
        )
    print_extremes(outcomes)


def print_extremes(outcomes):
    """The second table: the evidence behind the default thresholds."""
    print(
        "\nWhat the detectors look at, at its most extreme over each run "
        "(defaults: ratio < 1e-3 with |g|/|w| < 1e-4; |g| > 1e3, or growth "
        ">= 100x to >= 10; dead >= 0.5; early/late < 1e-3; saturated >= "
        "0.5; unit spread <= 1e-6):"
    )
    print(
        f"{'case':<31}{'label':<21}{'min ratio':>10}{'max |g|':>10}"
        f"{'growth':>9}{'dead':>6}{'early/late':>11}{'saturated':>10}"
        f"{'spread':>9}"
    )
    healthy = []
    for outcome in outcomes:
        values = extremes(outcome.records)
        if outcome.case.label == HEALTHY:
            healthy.append(values)
        ratio, norm, growth, dead, time_ratio, saturated, spread = values
        print(
            f"{outcome.case.name:<31}{outcome.case.label:<21}{ratio:>10.1e}"
            f"{norm:>10.3g}{growth:>9.3g}{dead:>6.2f}{time_ratio:>11.1e}"
            f"{saturated:>10.2f}{spread:>9.1e}"
        )
    if healthy:
        ratio, norm, growth, dead, time_ratio, saturated, spread = zip(*healthy)
        print(
            f"healthy controls, worst values: ratio {min(ratio):.1e}, |g| "
            f"{max(norm):.3g}, growth {max(growth):.3g}x, dead {max(dead):.2f}, "
            f"early/late {min(time_ratio):.1e}, saturated {max(saturated):.2f}, "
            f"unit spread {min(spread):.1e}"
        )


if __name__ == "__main__":
    main()
