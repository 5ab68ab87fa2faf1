import copy
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_watched_silently, compiled, mlp, regression_mlp

import keras_trainwatch as ktw
from keras_trainwatch.watch import WatchUpdate
from keras_trainwatch.watch.ledger import LedgerUpdate

pytestmark = pytest.mark.backends


def seen(reducer, findings, record):
    """Hands the reducer a probe's update, as its watch would."""
    reducer._on_watch_update(
        WatchUpdate(
            record.epoch,
            record.step,
            LedgerUpdate(list(findings), [], [], []),
            record,
        )
    )


def loss_not_falling(reducer, steps=32):
    """Hands the reducer `steps` step losses that do not fall, as its
    watch's batched reads would."""
    reducer._check_losses([(step, 1.0) for step in range(1, steps + 1)])


def tiny_model(optimizer=None, metrics=()):
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax")]
    )
    model.compile(
        optimizer or keras.optimizers.SGD(1.0),
        "sparse_categorical_crossentropy",
        metrics=list(metrics),
    )
    model.fit(
        np.ones((4, 4)), np.zeros(4), verbose=0
    )  # builds metrics and optimizer
    return model


def drive(callback, model, values, monitor):
    """Feeds `values` of `monitor` epoch by epoch; returns the learning rate
    after each epoch and what `logs["learning_rate"]` said."""
    callback.set_model(model)
    callback.on_train_begin()
    rates, logged = [], []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(float(model.optimizer.learning_rate))
    return rates, logged


PARITY_CASES = [
    (
        "plateau",
        {"patience": 2, "factor": 0.5},
        "val_loss",
        [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8],
    ),
    (
        "min_lr",
        {"patience": 1, "factor": 0.1, "min_lr": 0.05},
        "val_loss",
        [1.0] * 6,
    ),
    (
        "cooldown",
        {"patience": 1, "factor": 0.5, "cooldown": 2},
        "val_loss",
        [1.0] * 10,
    ),
    (
        "patience_0",
        {"patience": 0, "factor": 0.5},
        "val_loss",
        [1.0, 0.5, 0.5, 0.4, 0.4, 0.4],
    ),
    (
        "mode_max",
        {"patience": 1, "factor": 0.5, "mode": "max"},
        "val_score",
        [0.1, 0.2, 0.2, 0.2, 0.3, 0.25, 0.25],
    ),
    (
        "min_delta",
        {"patience": 1, "factor": 0.5, "min_delta": 0.1},
        "val_loss",
        [1.0, 0.95, 0.8, 0.75, 0.6, 0.55, 0.5],
    ),
    (
        "auto_accuracy",
        {"patience": 1, "factor": 0.5},
        "val_accuracy",
        [0.5, 0.6, 0.6, 0.7, 0.65, 0.65, 0.65],
    ),
]


@pytest.mark.parametrize(
    "name, kwargs, monitor, values",
    PARITY_CASES,
    ids=[c[0] for c in PARITY_CASES],
)
def test_same_semantics_as_reduce_lr_on_plateau(
    name, kwargs, monitor, values, capsys
):
    reference = keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, verbose=1, **kwargs
    )
    expected = drive(
        reference, tiny_model(metrics=["accuracy"]), values, monitor
    )
    expected_output = capsys.readouterr().out
    reducer = ktw.AutoLRReducer(monitor=monitor, verbose=1, **kwargs)
    assert (
        drive(reducer, tiny_model(metrics=["accuracy"]), values, monitor)
        == expected
    )
    assert capsys.readouterr().out == expected_output.replace(
        "ReduceLROnPlateau", "AutoLRReducer"
    )
    assert len(set(expected[0])) > 1, "the case should reduce at least once"


def test_a_second_fit_starts_fresh_like_keras():
    values = [1.0, 1.0, 0.5, 0.5]
    results = []
    for callback in (
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3),
        ktw.AutoLRReducer(monitor="val_loss", patience=3),
    ):
        model = tiny_model()
        first = drive(callback, model, values, "val_loss")
        second = drive(callback, model, values, "val_loss")
        results.append((first, second, callback.wait, callback.best))
    assert results[0] == results[1]


@pytest.mark.parametrize(
    "bad",
    [
        {"factor": 0.0},
        {"factor": 1.0},
        {"factor": 1.5},
        {"factor": -0.1},
        {"factor": "0.5"},
        {"patience": -1},
        {"cooldown": -2},
        {"min_lr": -1e-3},
        {"patience": 1.5},
        {"max_rollbacks": 0},
        {"mode": "maximize"},
        {"react_to": ("slow_training",)},
        # One kind as a bare string would be read letter by letter.
        {"react_to": "dead_relu"},
        {"rollback": "yes"},
        {"rollback": 1},
    ],
)
def test_out_of_range_arguments_raise_value_error_naming_them(bad):
    [(argument, value)] = bad.items()
    with pytest.raises(ValueError, match=f"`{argument}`") as raised:
        ktw.AutoLRReducer(**bad)
    assert f"Received: {argument}={value!r}" in str(raised.value)


@pytest.mark.parametrize("argument", ["rollback_dir", "backup_dir"])
def test_a_directory_that_is_not_a_path_is_named(argument):
    with pytest.raises(TypeError, match=f"`{argument}`.*a path"):
        ktw.AutoLRReducer(**{argument: 123})


def test_a_watch_that_is_not_among_the_callbacks_of_the_fit_is_an_error():
    x = np.zeros((8, 4), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    watch = ktw.GradientWatch((x, x[:, :1]))
    reducer = ktw.AutoLRReducer(watch=watch, monitor="loss")
    with pytest.raises(ValueError, match="`watch`.*among the callbacks"):
        model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[reducer])
    # Among them, the same pair trains.
    model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[watch, reducer])


def test_unknown_keyword_arguments_raise_type_error():
    with pytest.raises(TypeError, match="patiense"):
        ktw.AutoLRReducer(patiense=3)


def test_watch_must_be_a_gradient_watch():
    with pytest.raises(TypeError, match="`watch`"):
        ktw.AutoLRReducer(watch=keras.callbacks.History())


# --- Reacting to the watch ----------------------------------------------------


@pytest.mark.only_on(
    "tensorflow",
    reason="TensorFlow's cross-entropy from logits: the exploding run of this test",
)
def test_exploding_gradients_lower_the_rate_at_the_step_they_are_found(
    regression_data, caplog
):
    caplog.set_level(logging.WARNING, logger="keras_trainwatch")
    x, y = regression_data
    plain = regression_mlp(keras.optimizers.SGD(0.35))
    assert np.isnan(
        plain.fit(x, y, epochs=2, batch_size=32, verbose=0).history["loss"][-1]
    )

    keras.utils.set_random_seed(0)
    model = regression_mlp(keras.optimizers.SGD(0.35))
    watch = ktw.GradientWatch(
        (x[:256], y[:256]), every_n_steps=1, on_finding=lambda f: None
    )
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch)
    history = model.fit(
        x, y, epochs=2, batch_size=32, verbose=0, callbacks=[watch, reducer]
    )
    first = reducer.reductions[0]
    finding = next(f for f in watch.findings if f.kind == "exploding_gradients")
    assert first.step == finding.step
    assert first.step < 16, "the reaction comes mid-epoch, not at its end"
    assert first.new_lr == pytest.approx(0.035)
    assert first.reason.startswith(
        f"exploding gradients in layer {finding.layer}"
    )
    assert (
        # Printed in float32's shortest form, not as 0.03500000014901161.
        "reduced learning rate to 0.035: exploding gradients in layer"
        in caplog.text
    )
    assert np.isfinite(history.history["loss"][-1])
    assert not any(k.startswith("auto_lr/") for k in history.history)


def test_dead_relus_lower_the_rate_and_fewer_units_end_dead():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0)
    y = ((y - y.mean()) / y.std()).astype("float32")

    def dead_units(model):
        total = 0
        for i in range(3):
            out = keras.Model(
                model.inputs, model.get_layer(f"hidden_{i}").output
            )
            total += int(
                np.sum(np.all(out.predict(x[:256], verbose=0) == 0, axis=0))
            )
        return total

    plain = regression_mlp(keras.optimizers.Adam(0.02))
    plain.fit(x, y, epochs=3, batch_size=32, verbose=0)
    keras.utils.set_random_seed(0)
    model = regression_mlp(keras.optimizers.Adam(0.02))
    watch = ktw.GradientWatch(
        (x[:256], y[:256]),
        every_n_steps=10,
        on_finding=lambda f: None,
        dead_fraction=0.25,
    )
    reducer = ktw.AutoLRReducer(
        monitor=None, watch=watch, react_to=("dead_relu",)
    )
    model.fit(
        x, y, epochs=3, batch_size=32, verbose=0, callbacks=[watch, reducer]
    )
    assert reducer.reductions and reducer.reductions[0].reason.startswith(
        "dead ReLU units in layer"
    )
    assert dead_units(model) < dead_units(plain)


def test_cooldown_and_min_lr_hold_for_watch_reactions():
    model = tiny_model(keras.optimizers.SGD(0.1))
    reducer = ktw.AutoLRReducer(
        monitor=None, factor=0.5, cooldown=1, min_lr=0.03
    )
    reducer.set_model(model)
    reducer.on_train_begin()

    def dead(share):  # more units dead at each probe: worth acting on
        return ktw.Finding(
            "dead_relu", "dense", 0, 3, 0.55, 0.5, "dead", last_value=share
        )

    def record(step):
        return ktw.ProbeRecord(0, step, 1.0, (), ())

    def probe(share, step):  # each after 32 steps whose loss does not fall
        loss_not_falling(reducer)
        seen(reducer, [dead(share)], record(step))

    probe(0.6, 3)
    probe(0.62, 4)  # in cooldown: ignored
    assert [r.new_lr for r in reducer.reductions] == [pytest.approx(0.05)]
    reducer.on_epoch_end(0, {})  # cooldown over
    probe(0.64, 5)
    reducer.on_epoch_end(1, {})
    probe(0.66, 6)  # 0.03 reached: nothing left
    assert [r.new_lr for r in reducer.reductions] == [
        pytest.approx(0.05),
        pytest.approx(0.03),
    ]


# --- Rollback -------------------------------------------------------------------


def test_rollback_rescues_a_run_that_would_end_in_nan(regression_data):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(0.35))
    reducer = ktw.AutoLRReducer(monitor=None, rollback=True, factor=0.5)
    history = model.fit(
        x, y, epochs=3, batch_size=32, verbose=0, callbacks=[reducer]
    )
    assert np.all(np.isfinite(history.history["loss"]))
    assert reducer.rollbacks >= 1
    assert float(model.optimizer.learning_rate) < 0.35
    assert reducer.reductions[0].reason.startswith(
        "rollback 1 after non-finite loss"
    )
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.parametrize("on_disk", [False, True])
def test_rollback_gives_up_with_a_clear_message_and_healthy_weights(
    regression_data, tmp_path, caplog, on_disk
):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(2.0))
    reducer = ktw.AutoLRReducer(
        monitor=None,
        rollback=True,
        factor=0.9,
        max_rollbacks=2,
        rollback_dir=tmp_path if on_disk else None,
    )
    history = model.fit(
        x, y, epochs=5, batch_size=32, verbose=0, callbacks=[reducer]
    )
    assert reducer.rollbacks == 2
    assert len(history.history["loss"]) < 5
    assert "giving up after 2 rollbacks" in caplog.text
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert list(tmp_path.iterdir()) == []  # the snapshot file is removed


# --- Where ReduceLROnPlateau fails ------------------------------------------


def schedule():
    return keras.optimizers.schedules.ExponentialDecay(
        0.1, decay_steps=10, decay_rate=0.5
    )


def test_learning_rate_schedule_is_scaled_and_keeps_its_shape():
    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.zeros(64)
    keras_reducer = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", patience=0, min_delta=10
    )
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        drive(
            keras_reducer,
            tiny_model(keras.optimizers.SGD(schedule())),
            [1.0, 1.0],
            "loss",
        )
    model = tiny_model(keras.optimizers.SGD(schedule()))
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, min_delta=10, factor=0.1
    )
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[reducer])
    steps = int(model.optimizer.iterations.numpy())
    # The loss never improves by 10: every epoch after the first reduces.
    assert len(reducer.reductions) == 3
    expected = float(schedule()(steps)) * 0.1**3
    assert float(model.optimizer.learning_rate) == pytest.approx(
        expected, rel=1e-5
    )
    assert isinstance(model.optimizer._learning_rate, ktw.ScaledSchedule)


def test_mixed_precision_loss_scale_optimizer():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = tiny_model(keras.optimizers.SGD(0.1))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        rates, _logged = drive(
            ktw.AutoLRReducer(monitor="val_loss", patience=0, factor=0.5),
            model,
            [1.0, 1.0, 1.0],
            "val_loss",
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert rates == pytest.approx([0.1, 0.05, 0.025])
    assert float(
        model.optimizer.inner_optimizer.learning_rate
    ) == pytest.approx(0.025)


class TwoOptimizerModel(keras.Model):
    """A custom train_step with an optimizer per half, like a GAN."""

    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(4, name="first")
        self.second = keras.layers.Dense(1, name="second")

    def call(self, x):
        return self.second(self.first(x))

    def compile(self, first_optimizer, second_optimizer):
        super().compile(loss="mse")
        self.first_optimizer, self.second_optimizer = (
            first_optimizer,
            second_optimizer,
        )

    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            loss = keras.ops.mean((self(x) - y) ** 2)
        for optimizer, layer in (
            (self.first_optimizer, self.first),
            (self.second_optimizer, self.second),
        ):
            grads = tape.gradient(loss, layer.trainable_variables)
            optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        return {"loss": loss}


@pytest.mark.only_on("tensorflow", reason="a train_step with tf.GradientTape")
def test_several_optimizers_are_all_reduced():
    model = TwoOptimizerModel()
    model.compile(
        keras.optimizers.Adam(0.01, name="opt_a"),
        keras.optimizers.SGD(0.1, name="opt_b"),
    )
    x, y = np.ones((32, 3), "float32"), np.ones((32, 1), "float32")
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, min_delta=100, factor=0.5
    )
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[reducer])
    assert float(model.first_optimizer.learning_rate) == pytest.approx(0.0025)
    assert float(model.second_optimizer.learning_rate) == pytest.approx(0.025)
    # The logs hold the rate before each epoch's reduction, as in Keras.
    assert history.history["learning_rate_opt_a"] == pytest.approx(
        [0.01, 0.01, 0.005]
    )
    assert {r.optimizer for r in reducer.reductions} == {"opt_a", "opt_b"}


@pytest.mark.only_on(
    "tensorflow", "jax", reason="Keras's PyTorch trainer runs one step a call"
)
def test_steps_per_execution_reaction_comes_at_the_probe_step(regression_data):
    x, y = regression_data
    model = mlp(input_dim=16, depth=3, outputs=1, output_activation=None)
    model.compile(keras.optimizers.SGD(0.35), "mse", steps_per_execution=2)
    watch = ktw.GradientWatch(
        (x[:256], y[:256]), every_n_steps=2, on_finding=lambda f: None
    )
    # With rollback: a later NaN is rolled back instead of stopping the run.
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch, rollback=True)
    model.fit(
        x, y, epochs=2, batch_size=32, verbose=0, callbacks=[watch, reducer]
    )
    finding = next(f for f in watch.findings if f.kind == "exploding_gradients")
    assert reducer.reductions[0].step == finding.step
    assert finding.step % 2 == 0 and 0 < finding.step < 16


# --- Resuming, copying ---------------------------------------------------------

SCORES = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]


class Score(keras.callbacks.Callback):
    """Puts a scripted `score` into the logs, so runs are comparable."""

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = SCORES[epoch]


class Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_state_survives_backup_and_restore(tmp_path, digits):
    x, y = digits[0][:256], digits[1][:256]

    def run(backup_dir, interrupt_at=None):
        keras.utils.set_random_seed(0)
        model = compiled(mlp(depth=1), optimizer=keras.optimizers.SGD(0.1))
        reducer = ktw.AutoLRReducer(
            monitor="score",
            mode="min",
            patience=1,
            cooldown=1,
            factor=0.5,
            backup_dir=backup_dir,
        )
        callbacks = [
            Score(),
            reducer,
            keras.callbacks.BackupAndRestore(backup_dir),
        ]
        if interrupt_at is not None:
            callbacks.append(Interrupt(interrupt_at))
        model.fit(x, y, epochs=len(SCORES), verbose=0, callbacks=callbacks)
        return model, reducer

    reference_model, reference = run(str(tmp_path / "reference"))
    with pytest.raises(KeyboardInterrupt):
        run(str(tmp_path / "resumed"), interrupt_at=5)
    assert (tmp_path / "resumed" / "auto_lr_reducer.json").exists()
    model, resumed = run(str(tmp_path / "resumed"))
    assert [(r.epoch, r.new_lr) for r in resumed.reductions] == [
        (r.epoch, r.new_lr) for r in reference.reductions
    ]
    assert len(reference.reductions) >= 2
    assert (resumed.best, resumed.wait, resumed.cooldown_counter) == (
        reference.best,
        reference.wait,
        reference.cooldown_counter,
    )
    assert float(model.optimizer.learning_rate) == float(
        reference_model.optimizer.learning_rate
    )
    assert not (tmp_path / "resumed" / "auto_lr_reducer.json").exists()


def test_deepcopy_before_and_after_training_keeps_the_link_to_the_watch(digits):
    x, y = digits[0][:256], digits[1][:256]
    watch = ktw.GradientWatch((x[:64], y[:64]), every_n_steps=2)
    # A plateau at the second epoch's end (no change of 10 counts as one).
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, min_delta=10, watch=watch, rollback=True
    )
    model = compiled(mlp(depth=1, bias={0: -20.0}))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[watch, reducer])
    watch_copy, reducer_copy = copy.deepcopy([watch, reducer])
    assert reducer_copy.watch is watch_copy
    assert reducer_copy.model is None and watch_copy.probe is None
    assert watch_copy._publisher.listeners[0].__self__ is reducer_copy
    assert watch_copy._step_loss_listeners[0].__self__ is reducer_copy
    assert reducer_copy._losses._watch is watch_copy
    assert reducer_copy.reductions == reducer.reductions
    fresh = copy.deepcopy(ktw.AutoLRReducer(factor=0.5))
    assert fresh.factor == 0.5
    model = compiled(mlp(depth=1, bias={0: -20.0}))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[watch_copy, reducer_copy])
    assert len(reducer_copy.reductions) > len(reducer.reductions)


def test_reductions_are_written_to_the_watch_tensorboard_run(digits, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )

    x, y = digits
    watch = ktw.GradientWatch(
        (x[:64], y[:64]), log_dir=tmp_path, on_finding=lambda f: None
    )
    # A plateau at the second epoch's end (no change of 10 counts as one).
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, min_delta=10, watch=watch
    )
    model = compiled(
        mlp(depth=2, bias={0: -20.0}),
        optimizer=keras.optimizers.Adam(1e-3, name="adam"),
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[watch, reducer])
    events = EventAccumulator(
        str(tmp_path / "gradient_watch"), size_guidance={"tensors": 0}
    )
    events.Reload()
    rates = [
        float(tf.make_ndarray(e.tensor_proto))
        for e in events.Tensors("learning_rate/Adam")
    ]
    # Written at each epoch's end and at the reduction.
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    [text] = events.Tensors("learning_rate/reductions")
    assert tf.make_ndarray(text.tensor_proto).item() == (
        b"epoch 1, step 114: Adam 0.001 -> 0.0001 "
        b"(no improvement of loss for 1 epochs)"
    )


# --- Acting while a pathology lasts; NaN never passes silently ---------------


def issue_regression_run(tmp_path=None, **reducer_kwargs):
    """The run of issue 12: 4 x Dense(64, relu), targets about 10x the
    inputs, SGD 0.05, batch 64, a watch every 4 steps."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 1)) * 10 / 4).astype("float32")
    model = mlp(
        input_dim=16, depth=4, width=64, outputs=1, output_activation=None
    )
    model = compiled(model, optimizer=keras.optimizers.SGD(0.05), loss="mse")
    watch = ktw.GradientWatch(
        (x[:128], y[:128]), every_n_steps=4, on_finding=lambda f: None
    )
    reducer = ktw.AutoLRReducer(
        watch=watch, monitor="loss", factor=0.1, patience=100, **reducer_kwargs
    )
    callbacks = [watch, reducer]
    if tmp_path is not None:
        # Saved after every batch, so that a backup exists when NaN comes.
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                str(tmp_path / "backup"), save_freq=1
            )
        )
    return model, watch, reducer, (x, y), callbacks


def test_a_non_finite_run_without_rollback_stops_at_once_with_the_rescue(
    tmp_path,
):
    model, _watch, _reducer, (x, y), callbacks = issue_regression_run(
        tmp_path, rollback=False
    )
    steps = []
    counter = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: steps.append(logs["loss"])
    )
    with pytest.raises(ktw.TrainingDivergedError, match="rollback=True"):
        model.fit(
            x,
            y,
            epochs=4,
            batch_size=64,
            verbose=0,
            callbacks=callbacks + [counter],
        )
    # Stopped within the step the loss (or a probe) turned non-finite.
    assert np.isfinite(steps[:-1]).all()
    # BackupAndRestore keeps its backup to resume from (keras#21771).
    assert (tmp_path / "backup").exists()


def test_the_same_run_at_the_defaults_rolls_back_and_ends_finite():
    model, _watch, reducer, (x, y), callbacks = issue_regression_run()
    history = model.fit(
        x, y, epochs=4, batch_size=64, verbose=0, callbacks=callbacks
    )
    assert np.isfinite(history.history["loss"][-1])
    assert reducer.rollbacks >= 1


def exploding(norm, step):
    return ktw.Finding(
        "exploding_gradients",
        "dense",
        0,
        0,
        2e3,
        1e3,
        "huge",
        last_step=step,
        last_value=norm,
    )


def started_reducer(**kwargs):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    # Rollback off: these tests are about which findings lower the rate.
    kwargs.setdefault("rollback", False)
    reducer = ktw.AutoLRReducer(monitor=None, factor=0.5, **kwargs)
    reducer.set_model(model)
    reducer.on_train_begin()
    return reducer


def test_a_lasting_finding_is_acted_on_again_when_it_worsens():
    reducer = started_reducer(cooldown=1)

    def probe(norm, step):
        record = ktw.ProbeRecord(0, step, 1.0, (), ())
        seen(reducer, [exploding(norm, step)], record)

    probe(2e3, 0)  # new: reduced
    probe(5e3, 2)  # worse, but in cooldown: held back
    reducer.on_epoch_end(0, {})
    probe(5e3, 4)  # worse than at the last reduction: reduced
    probe(5e3, 6)  # as it was: not again
    reducer.on_epoch_end(1, {})
    probe(5e3, 8)  # unchanged after cooldown: still not
    probe(9e3, 10)  # worse: reduced
    assert [r.step for r in reducer.reductions] == [0, 4, 10]
    assert [r.new_lr for r in reducer.reductions] == [
        pytest.approx(0.5),
        pytest.approx(0.25),
        pytest.approx(0.125),
    ]
    assert "present since step 0" in reducer.reductions[1].reason


def test_while_the_loss_falls_after_a_reduction_findings_wait():
    reducer = started_reducer()

    def probe(norm, step, losses):
        reducer._check_losses([(step - 1, loss) for loss in losses])
        seen(
            reducer,
            [exploding(norm, step)],
            ktw.ProbeRecord(0, step, 1.0, (), ()),
        )

    probe(2e3, 10, [1e6] * 16)  # new: reduced, the loss at 1e6
    probe(5e3, 20, [4e5] * 16)  # worse, but the loss fell below half: waits
    probe(9e3, 30, [6e5] * 16)  # worse, and the loss no longer that low
    assert [r.step for r in reducer.reductions] == [10, 30]


def test_dead_units_lower_the_rate_while_they_spread_and_the_loss_stalls():
    reducer = started_reducer()

    def probe(share, step, losses, layer="dense"):
        reducer._check_losses(
            [(step - len(losses) + i, loss) for i, loss in enumerate(losses)]
        )
        dead = ktw.Finding(
            "dead_relu", layer, 0, 2, 0.55, 0.5, "dead", last_value=share
        )
        seen(reducer, [dead], ktw.ProbeRecord(0, step, 1.0, (), ()))

    falling = [2.0 - 0.03 * i for i in range(32)]
    probe(0.6, 2, falling[:2])  # too few losses to tell: waits
    probe(0.6, 32, falling[2:])  # the loss falls: the living units learn
    assert reducer.reductions == []
    # Spiky but level: the median of the latest 16 steps is not below the
    # median of the 16 before them. But no more units died since: nothing
    # left to spare.
    level = [1.0, 1.0, 9.0, 1.0] * 4 + [1.0, 5.0, 1.0, 1.0] * 4
    probe(0.55, 64, level)
    assert reducer.reductions == []
    probe(0.6, 96, level)  # spreading, and the loss stalls
    assert [r.step for r in reducer.reductions] == [96]
    assert reducer.reductions[0].reason == (
        "dead ReLU units in layer dense, present since step 2"
    )
    # At the new rate the loss is judged afresh: 32 steps of it first.
    probe(0.6, 112, [1.0] * 16, layer="other")
    assert len(reducer.reductions) == 1
    probe(0.6, 128, [1.0] * 16, layer="other")
    assert [r.step for r in reducer.reductions] == [96, 128]


def test_exploding_gradients_lower_the_rate_without_waiting_for_the_loss():
    reducer = started_reducer()
    seen(reducer, [exploding(2e3, 1)], ktw.ProbeRecord(0, 1, 1.0, (), ()))
    assert [r.step for r in reducer.reductions] == [1]


@pytest.mark.backends
def test_units_dying_in_a_run_that_learns_do_not_slow_it(digits):
    # Adam at 0.05 kills most of a layer within 5 steps; the living units
    # learn on. Lowered at once, this seed ended at 0.56 validation accuracy
    # against 0.85 unwatched.
    x, y = digits

    def trained(watched):
        keras.utils.set_random_seed(1)
        model = compiled(
            mlp(depth=2, width=64, initializer="glorot_uniform"),
            optimizer=keras.optimizers.Adam(0.05),
        )
        callbacks, found = [], []
        if watched:
            watch = ktw.GradientWatch(
                (x[1400:1464], y[1400:1464]),
                every_n_steps=5,
                on_finding=found.append,
            )
            callbacks = [watch, ktw.AutoLRReducer(monitor=None, watch=watch)]
        model.fit(x[:1400], y[:1400], epochs=4, verbose=0, callbacks=callbacks)
        accuracy = np.mean(
            np.argmax(model.predict(x[1400:], verbose=0), -1) == y[1400:]
        )
        return accuracy, found

    unwatched, _ = trained(False)
    watched, found = trained(True)
    assert any(f.kind == "dead_relu" and f.step <= 10 for f in found)
    assert watched >= unwatched - 0.02, (watched, unwatched)


def test_a_blow_up_and_the_probe_after_it_make_one_reduction():
    reducer = started_reducer()
    record = ktw.ProbeRecord(0, 6, 1.0, (), ())
    spike = ktw.Finding("loss_spike", None, 0, 6, 1e20, 10.0, "jump")
    reducer._on_watch_update(
        WatchUpdate(0, 6, LedgerUpdate([spike], [], [], []), record=None)
    )
    # The probe run right after the jump, at the same step, shows what it
    # did to the layers: answered by the spike's reduction.
    seen(reducer, [exploding(2e3, 6)], record)
    assert [r.step for r in reducer.reductions] == [6]


def test_dead_relus_that_do_not_spread_are_not_acted_on(digits):
    keras.utils.set_random_seed(0)
    x, y = digits[0][:512], digits[1][:512]
    model = compiled(
        mlp(depth=2, bias={0: -20.0}), optimizer=keras.optimizers.SGD(0.01)
    )
    watch = ktw.GradientWatch(
        (x[:128], y[:128]), every_n_steps=2, on_finding=lambda f: None
    )
    reducer = ktw.AutoLRReducer(watch=watch, monitor=None, factor=0.5)
    model.fit(
        x, y, epochs=2, batch_size=16, verbose=0, callbacks=[watch, reducer]
    )
    dead = [f for f in watch.findings if f.kind == "dead_relu"]
    assert (
        dead and dead[0].occurrences > 3 and dead[0].last_value == dead[0].value
    )
    # Dead from the start and no more since: a lower rate spares no unit.
    assert reducer.reductions == []


# --- Loss spikes ------------------------------------------------------------------


def spiked_run(bad_factor, with_reducer):
    """96 batches of 16 in a fixed order over 3 epochs; batch 40 (in the
    second epoch) has its targets multiplied by `bad_factor`."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96 * 16, 16)).astype("float32")
    clean_y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0).astype("float32")
    y = clean_y.copy()
    y[40 * 16 : 41 * 16] *= bad_factor
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = mlp(input_dim=16, depth=3, outputs=1, output_activation=None)
    model = compiled(model, optimizer=keras.optimizers.SGD(0.05), loss="mse")
    watch = ktw.GradientWatch(
        (x[:128], clean_y[:128]), on_finding=lambda f: None
    )
    callbacks = [watch]
    reducer = None
    if with_reducer:
        reducer = ktw.AutoLRReducer(watch=watch, monitor=None, rollback=True)
        callbacks.append(reducer)
    model.fit(
        dataset, epochs=3, steps_per_epoch=32, verbose=0, callbacks=callbacks
    )
    clean_loss = float(model.evaluate(x[:512], clean_y[:512], verbose=0))
    return watch, reducer, clean_loss


@pytest.mark.parametrize("bad_factor", [30.0, 1000.0])
def test_a_loss_spike_is_reported_rolled_back_and_skipped(bad_factor):
    _, _, clean = spiked_run(1.0, with_reducer=False)
    watch, reducer, rescued = spiked_run(bad_factor, with_reducer=True)
    [spike] = [f for f in watch.findings if f.kind == "loss_spike"]
    assert spike.step == 41, "the step that ran the bad batch"
    assert spike.value > 6
    assert reducer.rollbacks == 1
    assert len(reducer.reductions) == 1
    assert np.isfinite(rescued) and rescued < 2 * clean


def test_healthy_runs_report_no_spike():
    watch, _, _ = spiked_run(1.0, with_reducer=False)
    assert_watched_silently(watch)
