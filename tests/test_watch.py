import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_watched_silently, compiled, mlp, regression_mlp
from tensorboard.util import tensor_util

import keras_trainwatch as ktw

pytestmark = pytest.mark.backends

# One trace of the compiled probe; PyTorch's probe runs eagerly.
EXPECTED_TRACES = 0 if keras.backend.backend() == "torch" else 1


KINDS_AND_LAYERS = lambda watch: [(f.kind, f.layer) for f in watch.findings]  # noqa: E731


def fit(model, data, watch, epochs=3, **kwargs):
    x, y = data
    kwargs.setdefault("batch_size", 64)
    return model.fit(
        x, y, epochs=epochs, verbose=0, callbacks=[watch], **kwargs
    )


# --- Pathologies are caught at the first probe, in the right layer ----------


def test_deep_sigmoid_mlp_has_vanishing_gradients_in_its_lower_layers(digits):
    model = compiled(
        mlp(depth=10, activation="sigmoid", initializer="glorot_uniform")
    )
    watch = ktw.GradientWatch((digits[0][:256], digits[1][:256]))
    fit(model, digits, watch, epochs=2)
    vanishing = [f for f in watch.findings if f.kind == "vanishing_gradients"]
    assert vanishing[0].layer == "hidden_0"
    assert (vanishing[0].epoch, vanishing[0].step) == (0, 0)
    flagged = {f.layer for f in vanishing}
    assert {"hidden_0", "hidden_1", "hidden_2"} <= flagged
    assert not flagged & {"hidden_8", "hidden_9", "out"}
    assert {f.kind for f in watch.findings} == {"vanishing_gradients"}
    first = watch.records[0]
    assert first.layer("hidden_0").relative_grad < 1e-4


@pytest.mark.only_on(
    "tensorflow",
    reason="TensorFlow computes cross-entropy from the softmax's logits; JAX and PyTorch clip the probabilities, and this saturated net gets exactly zero gradients there (found as no_gradient)",
)
def test_huge_initial_weights_explode_the_gradients(digits):
    model = compiled(
        mlp(depth=4, initializer=keras.initializers.RandomNormal(stddev=3.0))
    )
    watch = ktw.GradientWatch((digits[0][:256], digits[1][:256]))
    fit(model, digits, watch, epochs=1)
    exploding = [f for f in watch.findings if f.kind == "exploding_gradients"]
    assert exploding[0].layer == "hidden_0"
    assert exploding[0].step == 0
    assert exploding[0].value == pytest.approx(
        watch.records[0].layer("hidden_0").grad_norm
    )
    assert exploding[0].value > 1e3


def test_very_negative_bias_kills_the_relu_units_of_that_layer(digits):
    model = compiled(mlp(depth=3, bias={1: -20.0}))
    watch = ktw.GradientWatch((digits[0][:256], digits[1][:256]))
    fit(model, digits, watch, epochs=1)
    dead = [f for f in watch.findings if f.kind == "dead_relu"]
    assert dead[0].layer == "hidden_1"
    assert (dead[0].step, dead[0].value) == (0, 1.0)
    # The layer below is alive; the one above gets only zeros and dies too.
    assert {f.layer for f in dead} == {"hidden_1", "hidden_2"}
    assert "hidden_0" not in {f.layer for f in watch.findings}


def dead_fraction(model, layer_name, x):
    """Independent measurement: share of units that output 0 for all of x."""
    outputs = keras.Model(
        model.inputs, model.get_layer(layer_name).output
    ).predict(x, verbose=0)
    return float(np.mean(np.all(outputs == 0, axis=0)))


class DeadFractionLog(keras.callbacks.Callback):
    def __init__(self, layers, x):
        super().__init__()
        self.layers, self.x, self.by_epoch = layers, x, []

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch.append(
            {
                name: dead_fraction(self.model, name, self.x)
                for name in self.layers
            }
        )


def test_too_high_learning_rate_kills_relus_and_is_caught_at_the_next_probe(
    regression_data,
):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.Adam(0.5))
    assert (
        max(dead_fraction(model, f"hidden_{i}", x[:256]) for i in range(3))
        < 0.5
    )
    # Spikes off: a blow-up in the first steps adds a probe right after it
    # (on PyTorch's initial weights it does), between the epoch ends where
    # the dead share is measured here.
    watch = ktw.GradientWatch(
        (x[:256], y[:256]),
        probe_samples=None,
        on_finding=lambda f: None,
        loss_spike_z=None,
    )
    measured = DeadFractionLog([f"hidden_{i}" for i in range(3)], x[:256])
    model.fit(
        x, y, epochs=4, batch_size=32, verbose=0, callbacks=[watch, measured]
    )
    dead = {f.layer: f for f in watch.findings if f.kind == "dead_relu"}
    assert dead, "the high learning rate should have killed a layer"
    for layer, finding in dead.items():
        first_dead_epoch = next(
            e
            for e, fractions in enumerate(measured.by_epoch)
            if fractions[layer] >= 0.5
        )
        assert finding.epoch == first_dead_epoch
        assert finding.value == pytest.approx(
            measured.by_epoch[first_dead_epoch][layer]
        )


def test_exploding_gradients_are_reported_before_the_loss_turns_nan(
    regression_data,
):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(0.35))
    watch = ktw.GradientWatch(
        (x[:256], y[:256]), every_n_steps=1, on_finding=lambda f: None
    )
    losses = []
    batch_losses = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(logs["loss"])
    )
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[watch, batch_losses],
    )
    first_nan_step = next(
        i + 1 for i, loss in enumerate(losses) if not np.isfinite(loss)
    )
    exploding = [f for f in watch.findings if f.kind == "exploding_gradients"]
    assert exploding and exploding[0].step < first_nan_step


# --- Healthy networks produce no finding ------------------------------------


def bn_dropout_net():
    layers = [keras.Input((64,))]
    for _ in range(3):
        layers += [
            keras.layers.Dense(64),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.3),
        ]
    return keras.Sequential(
        layers + [keras.layers.Dense(10, activation="softmax")]
    )


def small_cnn():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                16,
                3,
                padding="same",
                activation="relu",
                kernel_initializer="he_normal",
            ),
            keras.layers.Conv2D(
                16, 3, activation="relu", kernel_initializer="he_normal"
            ),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


HEALTHY = {
    "he_relu_mlp": (
        lambda: mlp(depth=4, width=64),
        "digits",
        "sparse_categorical_crossentropy",
    ),
    "bn_dropout": (bn_dropout_net, "digits", "sparse_categorical_crossentropy"),
    "shallow_tanh": (
        lambda: mlp(depth=2, activation="tanh", initializer="glorot_uniform"),
        "digits",
        "sparse_categorical_crossentropy",
    ),
    "cnn": (small_cnn, "digit_images", "sparse_categorical_crossentropy"),
    "regression": (
        lambda: mlp(
            input_dim=16, depth=3, width=64, outputs=1, output_activation=None
        ),
        "regression_data",
        "mse",
    ),
}


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_networks_trained_with_adam_produce_no_finding(name, request):
    build, data_name, loss = HEALTHY[name]
    x, y = request.getfixturevalue(data_name)
    model = compiled(build(), loss=loss)
    watch = ktw.GradientWatch((x[:256], y[:256]))
    history = fit(model, (x, y), watch, epochs=5)
    assert_watched_silently(watch)
    assert len(watch.records) == 6
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- Every kind of model -----------------------------------------------------


class SubclassedMLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(
            32,
            activation="relu",
            bias_initializer=keras.initializers.Constant(-20.0),
            name="hidden",
        )
        self.out = keras.layers.Dense(10, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def test_subclassed_model_falls_back_to_gradients_and_says_so_once(
    digits, trainwatch_log
):
    model = compiled(SubclassedMLP())
    watch = ktw.GradientWatch((digits[0][:128], digits[1][:128]))
    fit(model, digits, watch, epochs=3)
    assert KINDS_AND_LAYERS(watch) == [("dead_relu", "hidden")]
    assert watch.records[0].dead_units[0].source == "gradients"
    assert trainwatch_log.text.count("inferred from units whose weights") == 1


def test_functional_multi_input_model_with_dict_inputs(digits):
    image = keras.Input((64,), name="image")
    extra = keras.Input((3,), name="extra")
    h = keras.layers.Dense(32, activation="relu", name="image_dense")(image)
    g = keras.layers.Dense(
        8,
        activation="relu",
        bias_initializer=keras.initializers.Constant(-50.0),
        name="extra_dense",
    )(extra)
    h = keras.layers.Concatenate()([h, g])
    model = compiled(
        keras.Model(
            {"image": image, "extra": extra},
            keras.layers.Dense(10, activation="softmax")(h),
        )
    )
    x = {
        "image": digits[0],
        "extra": np.random.default_rng(0).normal(size=(len(digits[0]), 3)),
    }
    probe_x = {k: v[:128] for k, v in x.items()}
    watch = ktw.GradientWatch((probe_x, digits[1][:128]))
    fit(model, (x, digits[1]), watch, epochs=2)
    assert KINDS_AND_LAYERS(watch) == [("dead_relu", "extra_dense")]
    assert {d.name for d in watch.records[0].dead_units} == {
        "image_dense",
        "extra_dense",
    }


def test_model_without_relu_and_with_frozen_layers(digits):
    model = mlp(depth=3, activation="tanh", initializer="glorot_uniform")
    model.get_layer("hidden_0").trainable = False
    model = compiled(model)
    watch = ktw.GradientWatch((digits[0][:128], digits[1][:128]))
    fit(model, digits, watch, epochs=2)
    assert_watched_silently(watch)
    assert [layer.name for layer in watch.records[-1].layers] == [
        "hidden_1",
        "hidden_2",
        "out",
    ]
    assert watch.records[-1].dead_units == ()


def test_embedding_with_sparse_gradients_is_not_mistaken_for_vanishing():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5000, size=(512, 12)).astype("int32")
    y = (x % 7 == 0).mean(axis=1, keepdims=True).astype("float32") * 5
    model = compiled(
        keras.Sequential(
            [
                keras.Input((12,), dtype="int32"),
                keras.layers.Embedding(5000, 16, name="emb"),
                keras.layers.GlobalAveragePooling1D(),
                keras.layers.Dense(
                    16, activation="relu", kernel_initializer="he_normal"
                ),
                keras.layers.Dense(1),
            ]
        ),
        loss="mse",
    )
    watch = ktw.GradientWatch((x[:128], y[:128]))
    fit(model, (x, y), watch, epochs=3)
    assert_watched_silently(watch)
    assert watch.records[0].layer("emb").grad_norm > 0


def test_nested_model_is_watched_layer_by_layer(digits):
    inner = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(
                16,
                activation="relu",
                bias_initializer=keras.initializers.Constant(-30.0),
                name="d",
            ),
        ],
        name="encoder",
    )
    inputs = keras.Input((64,))
    model = compiled(
        keras.Model(
            inputs,
            keras.layers.Dense(10, activation="softmax", name="head")(
                inner(inputs)
            ),
        )
    )
    watch = ktw.GradientWatch(
        (digits[0][:128], digits[1][:128]), on_finding=lambda f: None
    )
    fit(model, digits, watch, epochs=1)
    assert [layer.name for layer in watch.records[0].layers] == [
        "encoder/d",
        "head",
    ]
    assert KINDS_AND_LAYERS(watch) == [("dead_relu", "encoder/d")]


def test_dataset_probe_data(digits):
    dataset = tf.data.Dataset.from_tensor_slices(digits).batch(100)
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch(dataset)
    fit(model, digits, watch, epochs=1)
    # 64 (`probe_samples`) of the first batch's 100, spread evenly over it.
    assert watch.probe_batch.size == 64
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(watch.probe_batch.y)[[0, -1]],
        digits[1][[0, 99]],
    )
    assert len(watch.records) == 2


def test_probe_samples_spread_over_sorted_data_and_none_keeps_all():
    x = np.arange(1000, dtype="float32")[:, None]
    y = np.repeat(np.arange(10), 100)  # sorted by class
    batch = ktw.GradientWatch((x, y), probe_samples=20).probe_batch
    assert batch.size == 20
    taken = keras.ops.convert_to_numpy(batch.x)[:, 0]
    assert taken[0] == 0 and taken[-1] == 999
    assert np.all(np.diff(taken) > 0)
    assert set(keras.ops.convert_to_numpy(batch.y)) == set(range(10))
    assert (
        ktw.GradientWatch((x, y), probe_samples=None).probe_batch.size == 1000
    )
    assert ktw.GradientWatch((x[:30], y[:30])).probe_batch.size == 30


# --- Watching does not change training --------------------------------------


def test_training_is_bitwise_identical_with_and_without_the_watch():
    script = os.path.join(
        os.path.dirname(__file__), "scripts", "determinism_check.py"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, script],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["plain_is_reproducible"], (
        "the control run is not deterministic"
    )
    assert outcome["watched_equals_plain"]
    # The check can fail: a careless probe does change training.
    assert not outcome["naive_probe_equals_plain"]
    # Subclassed models, which the watch builds before their first step.
    assert outcome["subclassed_watched_equals_plain"]


@pytest.mark.only_on(
    "tensorflow",
    reason="tf.function traces",
)
@pytest.mark.parametrize("watched", [False, True])
def test_the_watch_saves_keras_a_trace_of_its_first_train_step(digits, watched):
    """Keras alone creates the optimizer's state and the metrics while
    tracing its first step, and TensorFlow traces a function again after a
    first call that created variables; the watch builds them at
    `set_model` (the optimizer after its first probe), so `fit` traces once."""
    model = mlp(depth=2)
    model.compile(
        "adam", "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    traces = []
    train_step = model.train_step

    def counted(data):
        traces.append(data)
        return train_step(data)

    model.train_step = counted
    callbacks = [ktw.GradientWatch((digits[0][:64], digits[1][:64]))]
    model.fit(
        digits[0][:128],
        digits[1][:128],
        batch_size=64,
        epochs=1,
        verbose=0,
        callbacks=callbacks if watched else [],
    )
    assert len(traces) == (1 if watched else 2)


def test_probe_is_traced_once_across_epochs_and_fits(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]), every_n_steps=5)
    fit(model, digits, watch, epochs=3)
    fit(model, digits, watch, epochs=2)
    assert len(watch.records) > 20
    assert watch.probe.tracing_count == EXPECTED_TRACES


@pytest.mark.only_on(
    "tensorflow",
    reason="the eager first probe kept from set_model is TensorFlow's",
)
@pytest.mark.parametrize("call", ["evaluate", "predict"])
def test_evaluate_or_predict_alone_lets_the_checked_probe_go(digits, call):
    # Setting the model runs the first probe (the check of the probe batch)
    # and keeps it for fit; evaluate or predict alone never takes it.
    x, y = digits[0][:64], digits[1][:64]
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((x, y))
    watch.set_model(model)
    assert watch.probe.keeps_first_probe
    arguments = (x, y) if call == "evaluate" else (x,)
    getattr(model, call)(*arguments, verbose=0, callbacks=[watch])
    assert not watch.probe.keeps_first_probe
    fit(model, (x, y), watch, epochs=1)
    assert [(r.epoch, r.step) for r in watch.records] == [(0, 0), (0, 1)]


def test_recompiling_between_fits_rebuilds_the_probe(regression_data):
    x, y = regression_data
    model = regression_mlp("adam")
    watch = ktw.GradientWatch((x[:64], y[:64]))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[watch])
    first_probe = watch.probe
    model.compile("adam", "mae")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[watch])
    assert watch.probe is not first_probe
    mae = float(np.mean(np.abs(model.predict(x[:64], verbose=0) - y[:64])))
    assert watch.records[-1].loss == pytest.approx(mae, rel=1e-5)


# --- Scheduling, logs, reporting ---------------------------------------------


def test_probes_at_start_and_every_epoch_end(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=3)
    assert [(r.epoch, r.step) for r in watch.records] == [
        (0, 0),
        (0, 10),
        (1, 20),
        (2, 30),
    ]


def test_every_n_steps_probes_on_the_step_grid(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]), every_n_steps=4)
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=2)
    assert [r.step for r in watch.records] == [0, 4, 8, 12, 16, 20]
    assert [r.epoch for r in watch.records] == [0, 0, 0, 1, 1, 1]


@pytest.mark.only_on(
    "tensorflow", "jax", reason="Keras's PyTorch trainer runs one step a call"
)
def test_every_n_steps_with_steps_per_execution(digits):
    model = mlp(depth=2)
    model.compile(
        "adam", "sparse_categorical_crossentropy", steps_per_execution=3
    )
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]), every_n_steps=4)
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=1)
    # Callbacks come after steps 3, 6, 9, 10: the first at or after 4 and 8.
    assert [r.step for r in watch.records] == [0, 6, 9]
    assert int(model.optimizer.iterations.numpy()) == 10


def test_by_default_one_short_column_goes_into_the_logs(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    history = fit(model, digits, watch, epochs=1)
    assert {k for k in history.history if "/" in k} == {
        "gradient_watch/active_findings"
    }
    quiet = ktw.GradientWatch((digits[0][:64], digits[1][:64]), logs=None)
    history = fit(compiled(mlp(depth=2)), digits, quiet, epochs=1)
    assert set(history.history) == {"loss"} and quiet.records


def test_summary_numbers_go_into_history(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]), logs="full")
    history = fit(model, digits, watch, epochs=2)
    keys = {k for k in history.history if k.startswith("gradient_watch/")}
    assert keys == {
        "gradient_watch/grad_norm",
        "gradient_watch/min_relative_grad",
        "gradient_watch/max_dead_fraction",
        "gradient_watch/findings",
        "gradient_watch/active_findings",
    }
    assert history.history["gradient_watch/grad_norm"][-1] == pytest.approx(
        watch.records[-1].grad_norm
    )


def test_a_repeated_finding_is_reported_once_then_updated(
    digits, trainwatch_log
):
    model = compiled(mlp(depth=2, bias={0: -20.0}))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    fit(model, digits, watch, epochs=3)
    [finding] = [f for f in watch.findings if f.layer == "hidden_0"]
    assert finding.occurrences == 4
    assert (finding.step, finding.last_epoch) == (0, 2)
    assert trainwatch_log.text.count("Dead ReLU units in layer 'hidden_0'") == 1


def test_on_finding_stop_ends_training(digits):
    model = compiled(mlp(depth=2, bias={0: -20.0}))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), on_finding="stop"
    )
    history = fit(model, digits, watch, epochs=5)
    assert len(history.history["loss"]) == 1


def test_on_finding_raise_raises_out_of_fit(digits):
    model = compiled(mlp(depth=2, bias={0: -20.0}))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), on_finding="raise"
    )
    with pytest.raises(ktw.TrainingPathologyError, match="hidden_0") as raised:
        fit(model, digits, watch, epochs=5)
    assert raised.value.finding.kind == "dead_relu"
    assert int(model.optimizer.iterations.numpy()) == 0


def test_on_finding_callable_receives_each_new_finding(digits):
    seen = []
    model = compiled(mlp(depth=2, bias={0: -20.0}))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), on_finding=seen.append
    )
    fit(model, digits, watch, epochs=2)
    assert [f.key for f in seen] == [f.key for f in watch.findings]
    assert all(f.occurrences == 1 for f in seen)
    assert watch.findings[0].occurrences == 3


@pytest.mark.only_on(
    "tensorflow",
    reason="raises TensorFlow's out-of-memory error",
)
def test_a_failing_probe_warns_and_training_goes_on(digits, trainwatch_log):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:

                def fail(*args):
                    raise tf.errors.ResourceExhaustedError(
                        None, None, "OOM while probing"
                    )

                watch._runner.probe = fail

    history = model.fit(
        digits[0], digits[1], epochs=3, verbose=0, callbacks=[Boom(), watch]
    )
    assert len(history.history["loss"]) == 3
    assert "probe failed at epoch 0" in trainwatch_log.text
    assert "OOM while probing" in trainwatch_log.text
    assert len(watch.records) == 1 and not watch.probing


# --- Bad arguments fail early -------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_every_n_steps(bad):
    with pytest.raises(
        ValueError, match="`every_n_steps`.*integer >= 1.*Received"
    ):
        ktw.GradientWatch((np.zeros((2, 3)), np.zeros(2)), every_n_steps=bad)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"vanishing_ratio": 2.0}, "vanishing_ratio"),
        ({"vanishing_relative_grad": 0.0}, "vanishing_relative_grad"),
        ({"dead_fraction": 0.0}, "dead_fraction"),
        ({"exploding_grad_norm": -1}, "exploding_grad_norm"),
        ({"exploding_growth": 0.5}, "exploding_growth"),
        ({"saturated_fraction": 1.5}, "saturated_fraction"),
        ({"loss_patience": 1}, "loss_patience"),
        ({"loss_spike_z": -2.0}, "loss_spike_z"),
        ({"on_finding": "shout"}, "on_finding"),
        ({"probe_samples": 0}, "probe_samples"),
        ({"probe_samples": 2.5}, "probe_samples"),
    ],
)
def test_bad_thresholds_and_modes_fail_at_construction(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        ktw.GradientWatch((np.zeros((2, 3)), np.zeros(2)), **kwargs)


def test_a_log_dir_that_is_not_a_path_is_named():
    with pytest.raises(TypeError, match="`log_dir`.*a path.*int"):
        ktw.GradientWatch((np.zeros((2, 3)), np.zeros(2)), log_dir=123)


def test_probe_batch_that_does_not_fit_fails_before_any_step(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((np.zeros((8, 10), "float32"), np.zeros(8)))
    with pytest.raises(ValueError, match="`probe_data` does not fit the model"):
        fit(model, digits, watch, epochs=1)
    assert int(model.optimizer.iterations.numpy()) == 0


def test_model_without_loss_fails_at_set_model():
    model = mlp(depth=1)
    watch = ktw.GradientWatch((np.zeros((8, 64), "float32"), np.zeros(8)))
    with pytest.raises(
        ValueError,
        match="own loss, and model .* has none: compile it with `loss=`",
    ):
        watch.set_model(model)


# --- TensorBoard ----------------------------------------------------------------


def test_tensorboard_summaries_are_written(digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    model = compiled(mlp(depth=3, bias={2: -20.0}))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), log_dir=tmp_path
    )
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=2)
    run = tmp_path / "gradient_watch"
    events = EventAccumulator(str(run), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    for layer in ["hidden_0", "hidden_1", "hidden_2", "out"]:
        assert {
            f"grad_norm/{layer}",
            f"relative_grad/{layer}",
            f"weight_norm/{layer}",
            f"gradients/{layer}/kernel",
        } <= tags
    assert {
        "dead_fraction/hidden_2",
        "probe/loss",
        "findings",
    } <= tags
    grad_norms = [
        (e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
        for e in events.Tensors("grad_norm/hidden_0")
    ]
    assert grad_norms == [
        (r.step, pytest.approx(r.layer("hidden_0").grad_norm, rel=1e-6))
        for r in watch.records
    ]
    histogram = tensor_util.make_ndarray(
        events.Tensors("gradients/hidden_0/kernel")[0].tensor_proto
    )
    assert histogram.shape[1] == 3 and histogram[:, 2].sum() == 64 * 32
    [table] = events.Tensors("findings")
    rows = tensor_util.make_ndarray(table.tensor_proto).astype(str)
    assert rows[0].tolist() == [
        "kind",
        "layer",
        "epoch",
        "step",
        "value",
        "threshold",
        "measure",
        "message",
        "remedy",
        "episodes",
    ]
    assert [row[:4].tolist() for row in rows[1:]] == [
        ["dead_relu", "hidden_2", "0", "0"]
    ]
    columns = rows[0].tolist()
    assert rows[1][columns.index("remedy")] == "Lower the learning rate."
    assert rows[1][columns.index("measure")] == "dead share of units"


@pytest.mark.only_on(
    "tensorflow",
    "torch",
    reason="JAX cannot differentiate a layer output: the early/late gradients through time are not measured there",
)
def test_recurrent_layer_over_long_sequences_has_vanishing_gradients_through_time():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(256, 100, 1)).astype("float32")
    y = (x[:, 0, 0] > 0).astype("int32")

    def build(cell, **kwargs):
        return compiled(
            keras.Sequential(
                [
                    keras.Input((x.shape[1], 1)),
                    keras.layers.Dense(8),
                    cell(16, name="recurrent", **kwargs),
                    keras.layers.Dense(2, activation="softmax"),
                ]
            )
        )

    model = build(
        keras.layers.SimpleRNN,
        recurrent_initializer=keras.initializers.Orthogonal(0.5),
    )
    watch = ktw.GradientWatch((x[:128], y[:128]))
    fit(model, (x, y), watch, epochs=1)
    [finding] = watch.findings
    assert (finding.kind, finding.layer, finding.step) == (
        "vanishing_gradients",
        "recurrent",
        0,
    )
    assert "LSTM or GRU" in finding.remedy

    short = x[:, :10]
    model = compiled(
        keras.Sequential(
            [
                keras.Input((10, 1)),
                keras.layers.Dense(8),
                keras.layers.LSTM(16),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
    )
    watch = ktw.GradientWatch((short[:128], y[:128]))
    fit(model, (short, y), watch, epochs=2)
    assert_watched_silently(watch)
    assert watch.records[0].time_gradients[0].steps == 10


def test_step_probing_leaves_keras_batch_callbacks_asynchronous(digits):
    from keras.src.utils.python_utils import is_default

    model = compiled(mlp(depth=1))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]), every_n_steps=3)
    assert is_default(watch.on_train_batch_end) and is_default(
        watch.on_batch_end
    )
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=1)
    assert [r.step for r in watch.records] == [0, 3, 6, 9]
    # The train function is unwrapped after fit: no probe outside training.
    model.train_on_batch(digits[0][:64], digits[1][:64])
    assert len(watch.records) == 4


# --- Bounded memory and the event file's life ----------------------------------


def test_records_and_detector_history_stay_bounded(digits):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), every_n_steps=1, keep_records=3
    )
    fit(model, (digits[0][:640], digits[1][:640]), watch, epochs=1)
    assert len(watch.records) == 3
    assert watch.last_record is watch.records[-1]
    assert watch.last_record.step == 10
    assert [r.step for r in watch.records] == [8, 9, 10]
    # The exploding rule reads the last 5 records; nothing keeps more.
    assert watch._runner.recent.maxlen == 5 and len(watch._runner.recent) == 5


def test_each_fit_opens_and_closes_its_own_event_file(digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]), log_dir=tmp_path
    )
    assert watch.summary_writer is None, "nothing is opened before fit"
    for _ in range(2):
        fit(model, (digits[0][:320], digits[1][:320]), watch, epochs=1)
        assert watch.summary_writer is None, "closed when fit ends"
    run = tmp_path / "gradient_watch"
    assert len([f for f in os.listdir(run) if "tfevents" in f]) == 2
    events = EventAccumulator(str(run), size_guidance={"tensors": 0})
    events.Reload()
    steps = [e.step for e in events.Tensors("probe/loss")]
    assert steps == [0, 5, 5, 10]
    histograms = events.Tensors("gradients/hidden_0/kernel")
    assert [e.step for e in histograms] == steps
    assert watch.probe.tracing_count == EXPECTED_TRACES


def test_a_new_watch_into_a_used_log_dir_says_what_it_does(
    digits, tmp_path, trainwatch_log
):
    data = (digits[0][:64], digits[1][:64])
    first = ktw.GradientWatch(data, log_dir=tmp_path)
    model = compiled(mlp(depth=1))
    fit(model, (digits[0][:256], digits[1][:256]), first, epochs=1)
    fit(model, (digits[0][:256], digits[1][:256]), first, epochs=1)
    assert "already holds" not in trainwatch_log.text  # its own run goes on
    second = ktw.GradientWatch(data, log_dir=tmp_path)
    fit(model, (digits[0][:256], digits[1][:256]), second, epochs=1)
    assert "already holds the events of an earlier run" in trainwatch_log.text
