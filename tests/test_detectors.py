import math

import pytest
from records import make_record

from keras_trainwatch.detectors import (
    DeadReluDetector,
    ExplodingGradientDetector,
    VanishingGradientDetector,
)
from keras_trainwatch.records import TimeGradientStats

# Per-layer relative gradients |g|/|w| measured by the probe (weight norm 1):
# the first probe of a 10-layer sigmoid MLP and of healthy networks.
pytestmark = pytest.mark.fast


SIGMOID_10 = [
    1.0e-7,
    4.2e-7,
    2.2e-6,
    1.2e-5,
    4.6e-5,
    1.9e-4,
    7.1e-4,
    3.0e-3,
    1.3e-2,
    4.8e-2,
    4.6e-1,
]
HEALTHY = {
    "relu_mlp": [3.6e-2, 8.1e-2, 9.8e-2, 9.9e-2, 4.8e-1],
    "bn_dropout": [2.8e-2, 1.5e-2, 4.3e-2, 1.2e-2, 3.7e-2, 1.0e-2, 2.5e-1],
    "converged_cnn": [5.7e-3, 1.0e-2, 1.7e-2],
    "regression": [5.4e-1, 1.0, 1.5, 1.4e1],
}


def layers_with(relative_grads):
    return [(f"layer_{i}", g, 1.0) for i, g in enumerate(relative_grads)]


def test_vanishing_flags_the_lower_sigmoid_layers_only():
    findings = VanishingGradientDetector()(
        make_record(layers_with(SIGMOID_10)), []
    )
    assert [f.layer for f in findings] == [f"layer_{i}" for i in range(5)]
    assert findings[0].kind == "vanishing_gradients"
    assert findings[0].value == pytest.approx(1.0e-7 / 4.6e-1)
    assert findings[0].threshold == 1e-3
    assert "ReLU" in findings[0].remedy
    assert "layer_0" in findings[0].message


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_vanishing_is_quiet_on_healthy_networks(name):
    assert (
        VanishingGradientDetector()(make_record(layers_with(HEALTHY[name])), [])
        == []
    )


def test_vanishing_ignores_uniformly_small_gradients_of_a_converged_network():
    converged = [g * 1e-4 for g in HEALTHY["relu_mlp"]]
    assert (
        VanishingGradientDetector()(make_record(layers_with(converged)), [])
        == []
    )


def test_vanishing_leaves_exactly_zero_gradients_to_the_dead_relu_detector():
    record = make_record(layers_with([0.0, 0.0, 2.6e-2]))
    assert VanishingGradientDetector()(record, []) == []


def test_vanishing_reference_ignores_layers_with_zero_weights():
    # A zero-initialized layer above has relative gradient inf.
    record = make_record(
        [("a", 1e-2, 1.0), ("b", 1e-2, 1.0), ("zero", 0.5, 0.0)]
    )
    assert VanishingGradientDetector()(record, []) == []


def test_vanishing_thresholds_can_be_set():
    record = make_record(layers_with(HEALTHY["bn_dropout"]))
    detector = VanishingGradientDetector(max_ratio=0.5, max_relative_grad=1.0)
    assert [f.layer for f in detector(record, [])] == [
        "layer_0",
        "layer_1",
        "layer_2",
        "layer_3",
        "layer_4",
        "layer_5",
    ]


def test_exploding_flags_huge_norms_per_layer():
    record = make_record(
        [("low", 4e4, 10.0), ("mid", 50.0, 10.0), ("top", 2e6, 1.0)]
    )
    findings = ExplodingGradientDetector()(record, [])
    assert [(f.layer, f.value, f.threshold) for f in findings] == [
        ("low", 4e4, 1e3),
        ("top", 2e6, 1e3),
    ]
    assert all(f.kind == "exploding_gradients" for f in findings)
    assert "batch normalization" in findings[0].remedy
    assert "learning rate" in findings[0].remedy


def test_exploding_reports_non_finite_gradients_once_in_the_lowest_layer():
    record = make_record(
        [("a", 1.0, 1.0), ("b", math.nan, 1.0, 7), ("c", math.nan, 1.0, 3)],
        loss=math.nan,
    )
    findings = ExplodingGradientDetector()(record, [])
    assert len(findings) == 1
    assert (findings[0].layer, findings[0].value) == ("b", 7.0)
    assert "2 of 3 layers" in findings[0].message


def test_exploding_reports_a_non_finite_loss():
    record = make_record([("a", 1.0, 1.0)], loss=math.inf)
    [finding] = ExplodingGradientDetector()(record, [])
    assert finding.layer is None


def test_exploding_growth_warns_while_norms_are_still_moderate():
    detector = ExplodingGradientDetector()
    history = [
        make_record([("a", n, 1.0)], step=s)
        for s, n in enumerate([0.1, 0.2, 0.3])
    ]
    assert (
        detector(make_record([("a", 5.0, 1.0)]), history) == []
    )  # 50x, below 100x
    [finding] = detector(make_record([("a", 40.0, 1.0)], step=3), history)
    assert finding.value == pytest.approx(400.0)
    assert finding.threshold == 100.0
    assert "grew" in finding.message


def test_exploding_growth_ignores_a_layer_waking_up_from_a_tiny_gradient():
    detector = ExplodingGradientDetector()
    history = [make_record([("a", 1e-6, 1.0)])]
    assert detector(make_record([("a", 2.0, 1.0)]), history) == []


def test_exploding_growth_only_looks_back_growth_window_probes():
    detector = ExplodingGradientDetector(growth_window=2)
    history = [make_record([("a", n, 1.0)]) for n in [0.1, 5.0, 6.0]]
    assert detector(make_record([("a", 50.0, 1.0)]), history) == []


def test_exploding_is_quiet_on_healthy_regression_at_initialization():
    record = make_record(
        [
            ("a", 6.0, 11.0),
            ("b", 12.0, 12.0),
            ("c", 17.0, 11.0),
            ("d", 19.0, 1.4),
        ]
    )
    assert ExplodingGradientDetector()(record, []) == []


def test_dead_relu_flags_layers_at_or_above_the_fraction():
    record = make_record(
        dead=[("a", 0, 64), ("b", 36, 64), ("c", 32, 64), ("d", 31, 64)]
    )
    findings = DeadReluDetector()(record, [])
    assert [(f.layer, f.value) for f in findings] == [
        ("b", 36 / 64),
        ("c", 0.5),
    ]
    assert findings[0].remedy == "Lower the learning rate."
    assert "36 of 64 units (56%)" in findings[0].message


def test_dead_relu_is_quiet_on_a_healthy_network():
    record = make_record(dead=[("a", 0, 64), ("b", 1, 64), ("c", 15, 64)])
    assert DeadReluDetector()(record, []) == []


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda v: VanishingGradientDetector(max_ratio=v), "max_ratio"),
        (
            lambda v: VanishingGradientDetector(max_relative_grad=v),
            "max_relative_grad",
        ),
        (lambda v: ExplodingGradientDetector(max_grad_norm=v), "max_grad_norm"),
        (lambda v: ExplodingGradientDetector(max_growth=v), "max_growth"),
        (lambda v: DeadReluDetector(max_dead_fraction=v), "max_dead_fraction"),
    ],
)
@pytest.mark.parametrize("bad", [0, -1.0, math.nan, "0.5", None, True])
def test_bad_thresholds_are_rejected_naming_the_argument(make, argument, bad):
    with pytest.raises(
        ValueError, match=f"`{argument}`.*Received: {argument}="
    ):
        make(bad)


@pytest.mark.parametrize(
    "make",
    [
        lambda: VanishingGradientDetector(max_ratio=1.0),
        lambda: ExplodingGradientDetector(max_growth=1.0),
        lambda: DeadReluDetector(max_dead_fraction=1.01),
        lambda: ExplodingGradientDetector(growth_window=0),
        lambda: ExplodingGradientDetector(growth_window=2.5),
    ],
)
def test_thresholds_outside_their_range_are_rejected(make):
    with pytest.raises(ValueError, match="Invalid value received for argument"):
        make()


def test_dead_fraction_accepts_its_inclusive_upper_bound():
    assert DeadReluDetector(max_dead_fraction=1.0).max_dead_fraction == 1.0


def time_record(steps, early, late, gated=False):
    stats = TimeGradientStats("rnn", steps, early, late, gated)
    return make_record(layers_with([1e-2, 1e-2]), time_gradients=[stats])


def test_vanishing_through_time_in_a_plain_rnn():
    [finding] = VanishingGradientDetector()(time_record(100, 1e-9, 1e-2), [])
    assert (finding.layer, finding.value) == ("rnn", pytest.approx(1e-7))
    assert "through time" in finding.message
    assert "LSTM or GRU" in finding.remedy


def test_vanishing_through_time_in_a_gated_rnn_gets_its_own_remedy():
    [finding] = VanishingGradientDetector()(
        time_record(100, 0.0, 1e-2, gated=True), []
    )
    assert "Shorten the sequences" in finding.remedy


@pytest.mark.parametrize(
    "steps, early, late", [(10, 0.0, 1.0), (100, 1e-2, 1e-1), (0, 0.0, 0.0)]
)
def test_time_rule_needs_enough_steps_and_a_real_drop(steps, early, late):
    assert (
        VanishingGradientDetector()(time_record(steps, early, late), []) == []
    )


# --- Rules that understand the model (real-model benchmark, issue 11) ------


def test_vanishing_flags_only_the_run_of_layers_from_the_input():
    # A gated branch in the middle (a LayerScale at 1e-6): the stem still
    # gets a healthy gradient through the skip path, so nothing vanished.
    gated = [1e-2, 1e-9, 1e-9, 5e-2, 2e-1]
    assert (
        VanishingGradientDetector()(make_record(layers_with(gated)), []) == []
    )
    # The same small layers at the bottom are vanishing.
    bottom = [1e-9, 1e-9, 1e-2, 5e-2, 2e-1]
    findings = VanishingGradientDetector()(make_record(layers_with(bottom)), [])
    assert [f.layer for f in findings] == ["layer_0", "layer_1"]


def test_vanishing_skips_normalization_layers():
    grads = [3e-2, 1e-9, 4e-2, 2e-1]
    info = {"layer_1": {"kind": "BatchNormalization", "normalization": True}}
    record = make_record(layers_with(grads), info=info)
    assert VanishingGradientDetector()(record, []) == []
    info = {"layer_0": {"kind": "LayerNormalization", "normalization": True}}
    record = make_record(layers_with([1e-9, 3e-2, 4e-2, 2e-1]), info=info)
    assert VanishingGradientDetector()(record, []) == []


def test_vanishing_reads_the_data_loss_not_the_regularizer():
    # grad_norm 2e-3 (|g|/|w| above the limit) of which the data loss gives
    # 1e-7: weight decay alone is moving this layer.
    layers = [
        ("layer_0", 2e-3, 1.0, 0, 1e-7),
        ("layer_1", 2e-3, 1.0, 0, 1e-6),
        ("layer_2", 3e-1, 1.0, 0, 3e-1),
    ]
    findings = VanishingGradientDetector()(make_record(layers), [])
    assert [f.layer for f in findings] == ["layer_0", "layer_1"]
    assert findings[0].value == pytest.approx(1e-7 / 3e-1)
    assert "data loss" in findings[0].message


def test_vanishing_remedy_fits_the_activations_on_the_path():
    grads = [1e-9, 1e-2, 2e-1]
    sigmoid = {"layer_1": {"activation": "sigmoid"}}
    [finding] = VanishingGradientDetector()(
        make_record(layers_with(grads), info=sigmoid), []
    )
    assert "ReLU" in finding.remedy
    relu = {n: {"activation": "relu"} for n in ("layer_0", "layer_1")}
    [finding] = VanishingGradientDetector()(
        make_record(layers_with(grads), info=relu), []
    )
    assert "ReLU activations" not in finding.remedy
    assert "skip (residual) connections" in finding.remedy


def test_exploding_divides_an_input_layer_by_the_input_scale():
    # ResNet50 on caffe-style 0-255 inputs: |g| = 1090 at the stem.
    info = {"conv1": {"reads_input": True}}
    layers = [("conv1", 1090.0, 11.0), ("conv2", 20.0, 30.0)]
    record = make_record(layers, info=info, input_scale=74.0)
    assert ExplodingGradientDetector()(record, []) == []
    # Huge all the same: a stem gradient of 1e6 on the same inputs.
    record = make_record(
        [("conv1", 1e6, 11.0), ("conv2", 20.0, 30.0)],
        info=info,
        input_scale=74.0,
    )
    [finding] = ExplodingGradientDetector()(record, [])
    assert finding.value == pytest.approx(1e6 / 74.0)
    assert "per unit of input scale" in finding.message
    # Not an input layer: no division.
    record = make_record([("conv1", 1090.0, 11.0)], input_scale=74.0)
    assert len(ExplodingGradientDetector()(record, [])) == 1


def test_gradient_growth_while_the_loss_falls_is_learning_not_exploding():
    # A masked BiLSTM of the real-model benchmark: |g| 0.12 -> 27 over five
    # probes while its probe loss fell from 2.3 to 1.3.
    norms = [0.12, 0.16, 0.27, 0.7, 2.2]
    losses = [2.3, 2.2, 2.0, 1.8, 1.6]
    history = [
        make_record([("lstm", n, 1.0)], loss=loss, step=8 * i)
        for i, (n, loss) in enumerate(zip(norms, losses))
    ]
    detector = ExplodingGradientDetector()
    learning = make_record([("lstm", 27.0, 1.0)], loss=1.3, step=40)
    assert detector(learning, history) == []
    diverging = make_record([("lstm", 27.0, 1.0)], loss=2.5, step=40)
    [finding] = detector(diverging, history)
    assert finding.value == pytest.approx(27.0 / 0.12)
