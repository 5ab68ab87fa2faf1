"""The failures beyond vanishing, exploding and dead units (issue 13):
saturated units, identical units, unscaled data as a cause, and a loss that
does not improve or oscillates. Each rule with values asserted, and the
healthy controls that must stay silent."""

import dataclasses
import math

import keras
import numpy as np
import pytest
from helpers import assert_watched_silently, finding
from records import make_record
from test_detector_suite import make_suite

import keras_trainwatch as ktw
from keras_trainwatch.detectors import (
    CauseLinker,
    LossProgressDetector,
    SaturationDetector,
    SymmetricUnitsDetector,
    chance_loss,
)
from keras_trainwatch.records import SaturationStats, UnitSpreadStats

CE = "sparse_categorical_crossentropy"


def quiet_watch(x, y, **kwargs):
    kwargs.setdefault("probe_samples", None)  # compared on all the samples
    return ktw.GradientWatch((x, y), on_finding=lambda f: None, **kwargs)


def kinds_and_layers(watch):
    return [(f.kind, f.layer) for f in watch.findings]


def tabular(scale, samples=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 12))
    y = (x[:, 0] - x[:, 1] > 0).astype("int32")
    return (x * scale).astype("float32"), y


def tanh_net(hidden_init="glorot_uniform"):
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(
                32, activation="tanh", kernel_initializer=hidden_init, name="h0"
            ),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )


# --- saturation -------------------------------------------------------------


def test_saturation_is_flagged_alone_only_when_almost_no_gradient_passes():
    record = dataclasses.replace(
        make_record(),
        saturation=(
            SaturationStats("a", "tanh", 0.95),
            SaturationStats("b", "sigmoid", 0.6),
            SaturationStats("c", "tanh", 0.49),
        ),
    )
    [finding] = SaturationDetector()(record, [])
    assert (finding.kind, finding.layer, finding.value) == (
        "saturated_units",
        "a",
        0.95,
    )
    assert "95% of its outputs" in finding.message
    assert "at most 7% of the gradient passes it" in finding.message
    # Past max_saturated, 'b' is a candidate the suite names next to a
    # symptom; 'c' is not even that.
    assert [s.name for s in SaturationDetector().saturated(record)] == [
        "a",
        "b",
    ]
    assert SaturationDetector(max_saturated=0.96)(record, []) == []


def test_half_saturated_layers_are_named_only_next_to_a_symptom():
    suite = make_suite(loss_patience=2)
    record = dataclasses.replace(
        make_record(layers=[("h0", 1.0, 1.0), ("out", 1.0, 1.0)]),
        saturation=(SaturationStats("h0", "tanh", 0.6),),
    )
    assert suite(record, []) == []  # learning: saturation costs nothing
    for loss in (0.7, 0.7, 0.7):
        suite.observe_epoch_loss(loss)
    kinds = [(f.kind, f.layer) for f in suite(record, [])]
    assert kinds == [("loss_not_improving", None), ("saturated_units", "h0")]
    [saturated] = [f for f in suite(record, []) if f.layer == "h0"]
    assert "the training loss is not improving" in saturated.message


@pytest.mark.parametrize("value", [0, 1.5, "half"])
def test_saturation_threshold_is_checked_at_construction(value):
    with pytest.raises(ValueError, match="`max_saturated`"):
        SaturationDetector(max_saturated=value)
    with pytest.raises(ValueError, match="`saturated_fraction`"):
        ktw.GradientWatch(tabular(1.0), saturated_fraction=value)


def test_the_probe_counts_saturated_outputs_as_an_independent_count_does():
    x, y = tabular(50.0)
    model = tanh_net()
    model.compile("sgd", CE)
    watch = quiet_watch(x[:256], y[:256])
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[watch])
    [stats] = watch.records[0].saturation
    # Our own count, on the weights of the last probe (the current ones).
    last = watch.records[-1]
    outputs = keras.Model(model.inputs[0], model.get_layer("h0").output)(
        x[:256]
    ).numpy()
    own = float(np.mean(np.abs(outputs) > 0.99))
    assert last.saturation[0].saturated == pytest.approx(own, abs=1e-6)
    assert stats.name == "h0" and stats.saturated > 0.9
    assert ("saturated_units", "h0") in kinds_and_layers(watch)


def test_standardized_inputs_and_output_layers_and_gates_are_not_flagged():
    x, y = tabular(1.0)
    inputs = keras.Input((12,))
    hidden = keras.layers.Dense(32, activation="tanh", name="h0")(inputs)
    gate = keras.layers.Dense(32, activation="sigmoid", name="gate")(hidden)
    gated = keras.layers.Multiply()([hidden, gate])
    # A confident sigmoid output sits in its tails by design.
    out = keras.layers.Dense(
        1,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(10.0),
        name="out",
    )(gated)
    model = keras.Model(inputs, out)
    model.compile("adam", "binary_crossentropy")
    watch = quiet_watch(x[:256], y[:256].astype("float32"))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[watch])
    [stats] = watch.last_record.saturation
    assert stats.name == "h0" and stats.saturated < 0.05
    assert not [f for f in watch.findings if f.kind == "saturated_units"]


# --- identical units ----------------------------------------------------------


def relu_net(init, output_init="glorot_uniform"):
    return keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(
                16, activation="relu", kernel_initializer=init, name="h0"
            ),
            keras.layers.Dense(
                8, activation="relu", kernel_initializer=init, name="h1"
            ),
            keras.layers.Dense(
                2,
                activation="softmax",
                kernel_initializer=output_init,
                name="out",
            ),
        ]
    )


def test_constant_initialization_is_found_at_the_first_probe():
    x, y = tabular(1.0)
    model = relu_net("ones")
    model.compile("adam", CE)
    watch = quiet_watch(x[:256], y[:256])
    model.fit(x, y, epochs=2, verbose=0, callbacks=[watch])
    symmetric = [f for f in watch.findings if f.kind == "symmetric_units"]
    # h1's units differ by the random output weights they feed; h0's get
    # the same gradient through h1's identical rows and stay identical.
    assert [(f.layer, f.step) for f in symmetric] == [("h0", 0)]
    kernel = model.get_layer("h0").kernel.numpy()
    assert np.ptp(kernel, axis=1).max() == 0.0  # still identical: our count
    spreads = {s.name: s for s in watch.last_record.unit_spread}
    assert spreads["h0"].weight_spread == 0.0
    assert spreads["h1"].grad_spread > 1e-3


def test_units_that_start_equal_but_get_different_gradients_are_not_flagged():
    x, y = tabular(1.0)
    model = relu_net("he_normal", output_init="zeros")
    model.compile("adam", CE)
    watch = quiet_watch(x[:256], y[:256])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[watch])
    first = {s.name: s for s in watch.records[0].unit_spread}
    assert first["out"].weight_spread == 0.0  # zero-initialized...
    assert first["out"].grad_spread > 0.1  # ...but each class its own error
    assert_watched_silently(watch)


def test_symmetric_units_detector_needs_identical_weights_and_gradients():
    def record(weight_spread, grad_spread):
        stats = UnitSpreadStats("d", 4, weight_spread, grad_spread)
        return dataclasses.replace(make_record(), unit_spread=(stats,))

    detector = SymmetricUnitsDetector()
    assert detector(record(0.0, 0.0), [])[0].layer == "d"
    assert detector(record(0.0, 0.3), []) == []
    assert detector(record(0.2, 0.0), []) == []
    assert detector(record(math.nan, math.nan), []) == []


# --- unscaled data as a cause -------------------------------------------------


def scaled_record(input_scale, target_scale=None, reads_input=True):
    record = make_record(
        [("first", 1.0, 1.0), ("second", 1.0, 1.0)],
        info={"first": {"reads_input": reads_input}},
        input_scale=input_scale,
    )
    return dataclasses.replace(record, target_scale=target_scale)


def test_unscaled_inputs_come_first_and_name_their_symptoms():
    symptoms = [
        finding("saturated_units", "first"),
        finding("exploding_gradients", "second"),
    ]
    linked = CauseLinker()(symptoms, scaled_record(20.0))
    assert [(f.kind, f.layer) for f in linked] == [
        ("unscaled_data", "first"),
        ("saturated_units", "first"),
        ("exploding_gradients", "second"),
    ]
    assert linked[0].value == 20.0 and linked[0].threshold == 5.0
    assert "explain saturated units" in linked[0].message
    assert linked[1].message.endswith("Likely cause: unscaled inputs.")
    # Past the first layer the input scale is not the named cause.
    assert linked[2] == symptoms[1]


@pytest.mark.parametrize(
    "findings, record",
    [
        # Large inputs alone are no fault: ImageNet models take 0-255.
        ([], scaled_record(60.0)),
        # A symptom with inputs near unit scale.
        ([finding("dead_relu", "first")], scaled_record(1.0)),
        # Symptoms away from the layer that reads the inputs (behind a
        # normalization layer, say): not the inputs' doing.
        (
            [
                finding("dead_relu", "second"),
                finding("exploding_gradients", "first"),
            ],
            scaled_record(60.0),
        ),
        # Large inputs that a weightless layer (Rescaling) reads first.
        (
            [finding("dead_relu", "first")],
            scaled_record(60.0, reads_input=False),
        ),
        # Large targets with a classification loss.
        ([finding("dead_relu", "first")], scaled_record(1.0, 60.0)),
    ],
)
def test_scale_is_no_cause_without_a_symptom_it_explains(findings, record):
    assert CauseLinker()(findings, record) == findings


def test_unscaled_regression_targets_are_named_as_the_cause():
    symptoms = [finding("loss_oscillating", None)]
    linked = CauseLinker(regression=True)(symptoms, scaled_record(1.0, 70.0))
    assert [(f.kind, f.layer) for f in linked] == [
        ("unscaled_data", None),
        ("loss_oscillating", None),
    ]
    assert "RMS of 70" in linked[0].message
    assert linked[1].message.endswith("Likely cause: unscaled targets.")


def test_no_gradient_drops_its_consequences_and_names_a_one_unit_softmax():
    cause = finding("mismatched_output", "out")
    linked = CauseLinker()(
        [
            cause,
            finding("dead_relu", "h0"),
            finding("no_gradient", None),
        ],
        make_record([("h0", 0.0, 1.0)]),
    )
    assert [f.kind for f in linked] == ["mismatched_output", "no_gradient"]
    assert linked[1].message.endswith(f"Cause: {cause.message}")


def test_saturation_is_named_as_the_cause_of_vanishing_gradients():
    linked = CauseLinker()(
        [
            finding("saturated_units", "h1"),
            finding("vanishing_gradients", "h0"),
        ],
        make_record([("h0", 1.0, 1.0)]),
    )
    assert linked[1].message.endswith("Likely cause: saturated units in 'h1'.")


def test_a_watched_fit_on_raw_tabular_features_names_the_scale():
    x, y = tabular(50.0)
    model = tanh_net()
    model.compile(keras.optimizers.SGD(0.01), CE)
    watch = quiet_watch(x[:256], y[:256])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[watch])
    assert kinds_and_layers(watch)[:2] == [
        ("unscaled_data", "h0"),
        ("saturated_units", "h0"),
    ]
    assert watch.findings[0].value == pytest.approx(
        float(np.sqrt(np.mean(x[:256].astype("float64") ** 2)))
    )


def test_probe_batch_scales():
    x, y = tabular(3.0)
    batch = ktw.GradientWatch((x, y), probe_samples=None).probe_batch
    assert batch.input_scale == pytest.approx(
        float(np.sqrt(np.mean(x.astype("float64") ** 2)))
    )
    assert batch.target_scale is None  # integer labels
    targets = np.full((len(x), 1), 4.0, "float32")
    assert ktw.GradientWatch((x, targets)).probe_batch.target_scale == 4.0


# --- the loss's course --------------------------------------------------------


def judged(losses, chance=None, patience=5, planned=None):
    detector = LossProgressDetector(patience=patience, chance=chance)
    detector.start_fit(planned)
    for loss in losses:
        detector.observe(loss)
    return detector(make_record(), [])


def test_a_loss_stuck_at_the_base_rate_is_not_improving():
    losses = [2.3030, 2.3025, 2.3021, 2.3019, 2.3016, 2.3014]
    [found] = judged(losses, chance=math.log(10))
    assert (found.kind, found.layer) == ("loss_not_improving", None)
    # Six epochs without a downward trend of 1%, flagged from six.
    assert (found.value, found.threshold) == (6.0, 6.0)
    assert "predicting the base rate" in found.message
    assert "learning nothing" in found.message
    # One epoch fewer: not judged yet.
    assert judged(losses[:-1], chance=math.log(10)) == []


def test_a_slow_start_waits_for_a_quarter_of_the_planned_epochs():
    # Sitting at the base rate (ln 2) for 15 epochs of 100, then learning:
    # the outside slow starters of the issue.
    flat = [0.6935 - 0.00002 * i for i in range(15)]
    assert judged(flat, chance=math.log(2), planned=100) == []
    # At 25 epochs of 100 it has cost a quarter of the run: a slow start.
    flat = [0.6935 - 0.00002 * i for i in range(25)]
    [found] = judged(flat, chance=math.log(2), planned=100)
    assert (found.value, found.threshold) == (25.0, 25.0)
    assert "25 of the 100 planned epochs" in found.message
    assert "has not started learning from its inputs yet" in found.message
    # Past half of the run it is "learning nothing".
    flat = [0.6935 + 0.0005 * (i % 2) for i in range(55)]
    [found] = judged(flat, chance=math.log(2), planned=100)
    assert "learning nothing" in found.message


def test_a_steady_downward_trend_at_the_base_rate_is_learning():
    # 0.3% an epoch, with noise: slow, but the trend is far above its noise.
    rng = np.random.default_rng(0)
    losses = [0.69 * (1 - 0.003 * i) + 0.0003 * rng.normal() for i in range(12)]
    assert judged(losses, chance=math.log(2)) == []


def test_a_loss_that_does_not_move_is_reported_whatever_its_level():
    # A learning rate of 1e-10: the untrained loss already sits below the
    # base rate, and does not move in the sixth digit.
    losses = [0.6412, 0.6412, 0.64120004, 0.6412, 0.64119996, 0.6412]
    [found] = judged(losses, chance=math.log(2), planned=100)
    assert "does not move at all" in found.message
    assert found.value < found.threshold == 1e-5
    # Converged below the base rate and flat to the last digit (a schedule
    # decayed to 0): it fell from its first epoch, so it learned.
    assert judged([0.9] + [0.2] * 6, chance=math.log(2)) == []


@pytest.mark.parametrize(
    "losses, chance",
    [
        # A slow but steady learner (2% an epoch).
        ([2.30 * 0.98**i for i in range(8)], math.log(10)),
        # Converged well below the base rate: flat, and fine.
        ([0.052, 0.051, 0.0512, 0.0511, 0.0510, 0.0510], math.log(10)),
        # Unknown loss, but it fell from its first epoch.
        ([5.0, 1.0, 0.99, 0.99, 0.99, 0.99], None),
    ],
)
def test_learning_or_converged_losses_are_not_flagged(losses, chance):
    assert judged(losses, chance) == []


def test_an_unknown_loss_that_never_fell_is_not_improving():
    [found] = judged([1.0, 1.0, 0.999, 1.001, 0.998, 0.997], chance=None)
    assert "no lower than in the first epoch" in found.message


def test_an_oscillating_loss():
    [found] = judged([0.42, 0.57, 0.55, 0.57, 0.44, 0.49], chance=2.3)
    assert (found.kind, found.value) == ("loss_oscillating", 2.0)
    # Noise of a few percent around a converged value is not oscillation.
    assert judged([0.30, 0.31, 0.30, 0.31, 0.30, 0.31], chance=2.3) == []
    # A loss that rises steadily is not oscillating (it is diverging).
    diverging = judged([1, 2, 4, 8, 16, 32], chance=2.3)
    assert "loss_oscillating" not in [f.kind for f in diverging]
    # Rises of a loss near 0 are noise, however large relative to it
    # (ResNet50V2 memorizing 32 images).
    near_zero = [2.2, 0.8, 0.011, 0.024, 0.004, 0.0006, 0.003, 0.0009]
    assert judged(near_zero, chance=2.3) == []


def test_patience_is_checked_at_construction():
    with pytest.raises(ValueError, match="`patience`"):
        LossProgressDetector(patience=1)
    with pytest.raises(ValueError, match="`loss_patience`"):
        ktw.GradientWatch(tabular(1.0), loss_patience=0)


@pytest.mark.parametrize(
    "loss, targets, expected",
    [
        (CE, np.arange(100) % 10, math.log(10)),
        # Imbalanced but every class present: the label entropy.
        (
            CE,
            np.array([0] * 10 + list(range(10))),
            -(0.55 * math.log(0.55) + 9 * 0.05 * math.log(0.05)),
        ),
        ("categorical_crossentropy", np.eye(4)[np.arange(8) % 4], math.log(4)),
        (
            "binary_crossentropy",
            np.array([[0.0], [0.0], [0.0], [1.0]]),
            -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)),
        ),
        ("mse", np.array([[1.0], [3.0]]), 1.0),
        (
            keras.losses.MeanAbsoluteError(),
            np.array([[0.0], [1.0], [5.0]]),
            5 / 3,
        ),
        ("huber", np.array([[1.0], [3.0]]), None),
        # Sorted data: a probe batch of 2 of the model's 10 classes stands
        # for nothing; the estimate errs high (uniform over 10 classes).
        (CE, np.array([0, 1] * 8), math.log(10)),
        # Constant targets say nothing about the base rate.
        ("mse", np.full((4, 1), 3.0), None),
        ("binary_crossentropy", np.zeros((4, 1)), None),
    ],
)
def test_chance_loss(loss, targets, expected):
    units = targets.shape[-1] if targets.ndim > 1 else 10
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
    model.compile("sgd", loss)
    got = chance_loss(model, targets)
    assert got == (None if expected is None else pytest.approx(expected))


def test_a_watched_sigmoid_net_with_slow_sgd_is_not_improving(digits):
    x, y = digits
    model = keras.Sequential(
        [keras.Input((64,))]
        + [keras.layers.Dense(32, activation="sigmoid") for _ in range(4)]
        + [keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(keras.optimizers.SGD(0.01), CE)
    watch = quiet_watch(x[:256], y[:256], loss_patience=3)
    history = model.fit(
        x, y, epochs=6, batch_size=32, verbose=0, callbacks=[watch]
    )
    [found] = [f for f in watch.findings if f.kind == "loss_not_improving"]
    # Not before a window of patience + 1 epochs; 6 planned epochs wait no
    # longer than that.
    assert found.epoch == 3 and found.threshold == 4
    assert "4 of the 6 planned epochs" in found.message
    assert "Raise the learning rate (now 0.01 with SGD) or use Adam" in (
        found.remedy
    )
    # It fell only to the loss of predicting the (balanced) label
    # frequencies, ln 10, never below it.
    assert min(history.history["loss"]) > math.log(10)
    # Independently: still at chance accuracy.
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    assert accuracy < 0.2


def test_a_saturated_tanh_net_that_learns_gets_no_finding():
    # Inputs with an RMS of 8 into tanh: over half of the first layer's
    # outputs sit in the tails, and the network learns all the same.
    x, y = tabular(8.0, samples=1024)
    keras.utils.set_random_seed(0)
    model = tanh_net()
    model.compile(keras.optimizers.Adam(1e-2), CE)
    watch = quiet_watch(x[:256], y[:256])
    history = model.fit(
        x, y, epochs=15, batch_size=64, verbose=0, callbacks=[watch]
    )
    assert max(r.saturation[0].saturated for r in watch.records) > 0.5
    assert_watched_silently(watch)
    assert len(watch.records) == 16, "the watch probed every epoch"
    # Independently: it learned (the task is linear; chance is 0.5).
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), -1) == y)
    assert accuracy > 0.9


def test_the_reducer_lowers_the_rate_for_an_oscillating_loss_by_default():
    from keras_trainwatch.reducer.reactions import FindingReactions

    reducer = ktw.AutoLRReducer()
    assert "loss_oscillating" in reducer.react_to
    oscillating = finding("loss_oscillating", None)
    reactions = FindingReactions(reducer.react_to)
    assert reactions.due([oscillating]) == [oscillating]
    reactions.acted_on([oscillating])
    assert reactions.due([oscillating]) == []  # the same swings: once


def test_swings_on_the_way_down_of_a_long_run_are_not_oscillation():
    # SGD with momentum: the loss swings for a few epochs but keeps setting
    # new bests; over a 100-epoch run that is a loss on its way down.
    swinging = [0.69, 0.6, 0.45, 0.52, 0.44, 0.5, 0.46, 0.47]
    assert judged(swinging, chance=math.log(2), planned=100) == []
    # The same swings in a 12-epoch run are judged at once, as before.
    [found] = judged(swinging, chance=math.log(2), planned=12)
    assert found.kind == "loss_oscillating"
    # Swinging around the same mean for a quarter of a long run (25 epochs
    # of 100, less the window of 6): oscillation.
    stuck = swinging + [0.5, 0.45, 0.52] * 8
    found = [
        f.kind
        for end in range(len(stuck) - 2, len(stuck) + 1)
        for f in judged(stuck[:end], chance=math.log(2), planned=100)
    ]
    assert "loss_oscillating" in found
    assert judged(stuck[:20], chance=math.log(2), planned=100) == []


def rings(samples=512, seed=0):
    """Two concentric rings: a tanh net with a small initialization sits at
    the base rate for a while before it separates them."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, samples)
    angle = rng.uniform(0, 2 * np.pi, samples)
    radius = np.where(label == 0, 1.0, 2.0)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    x += rng.normal(scale=0.2, size=x.shape)
    return ((x - x.mean(0)) / x.std(0)).astype("float32"), label.astype(
        "float32"
    )


def test_a_slow_start_that_then_learns_gets_no_finding():
    x, y = rings()
    small = keras.initializers.RandomNormal(0.0, 0.1)
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(32, activation="tanh", kernel_initializer=small),
            keras.layers.Dense(32, activation="tanh", kernel_initializer=small),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy"
    )
    watch = quiet_watch(x[:256], y[:256])
    history = model.fit(
        x, y, epochs=100, batch_size=32, verbose=0, callbacks=[watch]
    )
    losses = np.array(history.history["loss"])
    # Independently: it sat within 5% of ln 2 for several epochs (longer
    # than loss_patience + 1), then learned the rings.
    sat = int(np.argmax(losses < 0.95 * math.log(2)))
    assert sat > 6, losses[:12]
    accuracy = np.mean((model.predict(x, verbose=0)[:, 0] > 0.5) == y)
    assert accuracy > 0.9
    assert_watched_silently(watch)
    assert (
        len(watch.records) == 100 and watch.detectors.loss_progress.wait == 25
    )
