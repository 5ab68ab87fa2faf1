"""Construction checks: each fault caught with the right layer and remedy,
and standard, healthy architectures passed silently."""

import keras
import numpy as np
import pytest
from keras import layers as L

import keras_trainwatch as ktw
from keras_trainwatch.detectors import ModelChecks, check_model


def classifier(units, activation, loss, hidden_activation="relu"):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            L.Dense(16, activation=hidden_activation, name="hidden"),
            L.Dense(units, activation=activation, name="out"),
        ]
    )
    model.compile("sgd", loss)
    return model


CE = "sparse_categorical_crossentropy"
LOGITS_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
LOGITS_BCE = keras.losses.BinaryCrossentropy(from_logits=True)


@pytest.mark.parametrize(
    "units, activation, loss, expected",
    [
        (1, "softmax", "mse", "softmax over a single unit"),
        (1, "softmax", "binary_crossentropy", "softmax over a single unit"),
        (3, "relu", CE, "can be 0 or negative"),
        (3, None, "categorical_crossentropy", "linear activation"),
        (3, "tanh", CE, "can be 0 or negative"),
        (3, "elu", "categorical_crossentropy", "can be 0 or negative"),
    ],
)
def test_an_output_that_does_not_fit_the_loss(
    units, activation, loss, expected
):
    [finding] = check_model(classifier(units, activation, loss))
    assert finding.kind == "mismatched_output" and finding.layer == "out"
    assert expected in finding.message


@pytest.mark.parametrize(
    "units, activation, loss",
    [
        (3, "softmax", CE),
        (3, None, LOGITS_CE),
        (1, "sigmoid", "binary_crossentropy"),
        (1, None, LOGITS_BCE),
        # Probabilities into from_logits=True: Keras's TensorFlow backend
        # reads the logits the activation kept (and warns itself), so these
        # train exactly like logits (benchmarks/buggy_programs.py measured
        # the same gradient).
        (3, "softmax", LOGITS_CE),
        (1, "sigmoid", LOGITS_BCE),
        (1, None, "mse"),
        (1, "sigmoid", "mse"),
        # Unusual, but they learn in Keras 3 as well as the usual pair
        # (benchmarks/output_loss_pairs.py): positive outputs divided by
        # their sum, and any output into binary cross-entropy, which clips.
        (3, "softplus", CE),
        (3, "sigmoid", "categorical_crossentropy"),
        (1, "relu", "binary_crossentropy"),
        (1, "elu", "binary_crossentropy"),
        (1, None, "binary_crossentropy"),
        # Several softmax units can fit shares that sum to 1 (the targets
        # check judges the data).
        (3, "softmax", "mse"),
    ],
)
def test_matching_outputs_and_losses_pass(units, activation, loss):
    assert check_model(classifier(units, activation, loss)) == []


def regression_targets(shift, samples=64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(samples, 1)) + shift).astype("float32")


@pytest.mark.parametrize(
    "activation, loss, shift, share",
    [
        # Half of the targets negative: a sigmoid or ReLU output cannot
        # follow them.
        ("sigmoid", "mse", 0.0, "(0, 1)"),
        ("relu", "mse", 0.0, "[0, inf)"),
        ("relu", "mean_absolute_error", 0.0, "[0, inf)"),
        ("tanh", "mse", 3.0, "(-1, 1)"),
    ],
)
def test_targets_the_output_cannot_reach(activation, loss, shift, share):
    model = classifier(1, activation, loss)
    y = regression_targets(shift)
    [finding] = ModelChecks(model, y).findings
    assert (finding.kind, finding.layer) == ("mismatched_output", "out")
    assert f"whose outputs lie in {share}" in finding.message
    assert finding.value > finding.threshold == 0.1
    # Our own floor: the loss of the targets clipped into the output range.
    low, high = {"sigmoid": (0, 1), "relu": (0, np.inf), "tanh": (-1, 1)}[
        activation
    ]
    gap = y - np.clip(y, low, high)
    if loss == "mse":
        own = np.mean(gap**2) / np.var(y)
    else:
        own = np.mean(np.abs(gap)) / np.mean(np.abs(y - np.median(y)))
    assert finding.value == pytest.approx(own, rel=1e-5)
    assert "linear output layer" in finding.remedy


@pytest.mark.parametrize(
    "activation, shift",
    [
        ("sigmoid", None),  # targets in (0, 1)
        ("relu", 2.5),  # under 1% negative, and barely
        (None, 0.0),
    ],
)
def test_targets_within_reach_pass(activation, shift):
    y = (
        np.random.default_rng(0).uniform(0.05, 0.95, (64, 1)).astype("float32")
        if shift is None
        else regression_targets(shift)
    )
    assert ModelChecks(classifier(1, activation, "mse"), y).findings == []


def test_two_linear_layers_in_a_row():
    model = classifier(3, "softmax", CE, hidden_activation=None)
    [finding] = check_model(model)
    assert (finding.kind, finding.layer) == ("missing_activation", "hidden")
    assert "'out'" in finding.message


def test_a_dropout_that_leaves_almost_nothing():
    model = keras.Sequential(
        [
            keras.Input((8,)),
            L.Dropout(0.95, name="drop"),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile("sgd", CE)
    [finding] = check_model(model)
    assert (finding.kind, finding.layer, finding.value) == (
        "excessive_dropout",
        "drop",
        0.95,
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: keras.applications.MobileNetV2(
            weights=None, input_shape=(32, 32, 3), classes=10
        ),
        lambda: keras.applications.ResNet50V2(
            weights=None, input_shape=(32, 32, 3), classes=10
        ),
        lambda: keras.applications.ConvNeXtTiny(
            weights=None, input_shape=(32, 32, 3), classes=10
        ),
        lambda: keras.applications.EfficientNetB0(
            weights=None, input_shape=(32, 32, 3), classes=10
        ),
    ],
    ids=["MobileNetV2", "ResNet50V2", "ConvNeXtTiny", "EfficientNetB0"],
)
def test_standard_architectures_pass(build):
    model = build()
    model.compile("adam", CE)
    assert check_model(model) == []


def test_a_one_unit_softmax_is_diagnosed_as_the_cause_of_zero_gradients(digits):
    # With a regression loss the constant output 1.0 gives a constant loss.
    # (Keras's binary cross-entropy reads the logits under a softmax and
    # trains anyway; the check still names the output as wrong.)
    x, y = digits[0][:256], (digits[1][:256] % 2).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((64,)),
            L.Dense(16, activation="relu", name="hidden"),
            L.Dense(1, activation="softmax", name="out"),
        ]
    )
    model.compile("sgd", "mse")
    watch = ktw.GradientWatch((x[:64], y[:64]), on_finding=lambda f: None)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[watch])
    kinds = [f.kind for f in watch.findings]
    assert kinds == ["mismatched_output", "no_gradient"]
    no_gradient = watch.findings[1]
    assert (
        "Cause: The output layer 'out' applies softmax over a single unit"
        in no_gradient.message
    )
    assert "sigmoid" in no_gradient.remedy
    assert all(layer.grad_norm == 0 for layer in watch.last_record.layers)
    assert np.isfinite(watch.last_record.loss)
