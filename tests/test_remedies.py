"""Remedies that read the run: the optimizer, its rate and the findings
before."""

import keras
import pytest
from helpers import finding

from keras_trainwatch.detectors.remedies import RemedyAdvisor
from keras_trainwatch.findings import REMEDIES


def compiled(optimizer):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def advised(optimizer, *findings):
    advisor = RemedyAdvisor()
    advisor.attach(compiled(optimizer))
    return advisor(list(findings))


@pytest.mark.parametrize(
    "optimizer, expected, not_expected",
    [
        (keras.optimizers.Adam(1e-3), "now 0.001 with Adam", "use Adam"),
        (keras.optimizers.SGD(0.01), "now 0.01 with SGD) or use Adam", None),
        (keras.optimizers.Adam(1e-10), "Raise the learning rate: 1e-10", None),
    ],
)
def test_a_loss_that_does_not_improve_gets_the_remedy_of_its_optimizer(
    optimizer, expected, not_expected
):
    [f] = advised(optimizer, finding("loss_not_improving", None, 10))
    assert expected in f.remedy
    if not_expected:
        assert not_expected not in f.remedy


def test_a_symptom_after_units_died_in_training_names_the_rate():
    advisor = RemedyAdvisor()
    advisor.attach(compiled(keras.optimizers.SGD(5.0)))
    [dead] = advisor([finding("dead_relu", "conv_0", step=10)])
    assert dead.remedy.startswith("Lower the learning rate (now 5 with SGD)")
    # A later probe: the gradient below the dead layer is gone.
    [vanishing] = advisor([finding("vanishing_gradients", "input_conv", 20)])
    assert "killed the ReLU units of 'conv_0' by step 10" in vanishing.remedy
    assert vanishing.remedy != REMEDIES["vanishing_gradients"]


def test_units_dead_from_initialization_keep_the_generic_remedies():
    advisor = RemedyAdvisor()
    advisor.attach(compiled(keras.optimizers.SGD(0.01)))
    found = advisor(
        [
            finding("dead_relu", "h0", step=0),
            finding("vanishing_gradients", "in", 10),
        ]
    )
    assert [f.remedy for f in found] == [
        REMEDIES["dead_relu"],
        REMEDIES["vanishing_gradients"],
    ]


def test_without_an_optimizer_the_findings_are_unchanged():
    advisor = RemedyAdvisor()
    advisor.attach(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]))
    f = finding("loss_not_improving", None, 10)
    assert advisor([f]) == [f]


def test_the_watch_gives_the_remedy_of_the_run(digits):
    # Through the suite: a watched fit at a rate that does not move the loss.
    import numpy as np

    import keras_trainwatch as ktw

    x, y = digits
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(
        keras.optimizers.Adam(1e-10), "sparse_categorical_crossentropy"
    )
    watch = ktw.GradientWatch((x[:64], y[:64]), on_finding=lambda f: None)
    model.fit(x[:256], y[:256], epochs=7, verbose=0, callbacks=[watch])
    [f] = [f for f in watch.findings if f.kind == "loss_not_improving"]
    assert "does not move at all" in f.message
    assert "1e-10 with Adam" in f.remedy
    assert len(watch.records) == 8 and np.isfinite(watch.last_record.loss)
