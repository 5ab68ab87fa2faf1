"""A bug of the package surfaces: it raises in the tests (strict mode, set in
conftest.py), is logged as our bug in use, and never passes as a problem of
the user's data or model."""

import keras
import numpy as np
import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw
from keras_trainwatch.detectors import DeadReluDetector
from keras_trainwatch.probe import forward


def boom(*args, **kwargs):
    raise RuntimeError("a bug in a rule")


def watched_fit(digits, epochs=2):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    history = model.fit(
        digits[0][:256],
        digits[1][:256],
        epochs=epochs,
        verbose=0,
        callbacks=[watch],
    )
    return watch, history


def test_a_rule_that_fails_raises_under_strict_mode(digits, monkeypatch):
    monkeypatch.setattr(DeadReluDetector, "__call__", boom)
    with pytest.raises(RuntimeError, match="a bug in a rule"):
        watched_fit(digits)


def test_in_use_a_failing_rule_is_reported_as_our_bug_and_the_rest_go_on(
    digits, monkeypatch, trainwatch_log
):
    monkeypatch.setenv("KERAS_TRAINWATCH_STRICT", "0")
    monkeypatch.setattr(DeadReluDetector, "__call__", boom)
    calls = []
    exploding = ktw.ExplodingGradientDetector.__call__

    def counted(self, record, recent):
        calls.append(record.step)
        return exploding(self, record, recent)

    monkeypatch.setattr(ktw.ExplodingGradientDetector, "__call__", counted)
    watch, history = watched_fit(digits, epochs=3)
    assert len(history.history["loss"]) == 3
    bugs = [
        r for r in trainwatch_log.records if "keras_trainwatch bug" in r.msg
    ]
    assert len(bugs) == 1, "reported once, then the rule is off"
    assert "DeadReluDetector" in bugs[0].getMessage()
    assert watch.probing and len(watch.records) == 4
    assert len(calls) == 4, "the other rules ran at every probe"


def test_a_bug_in_the_probe_is_not_blamed_on_probe_data(digits, monkeypatch):
    def broken(*args):
        raise KeyError("a bug in a reduction")

    monkeypatch.setattr(forward.reductions, "dead_units_from_output", broken)
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((digits[0][:64], digits[1][:64]))
    with pytest.raises(KeyError, match="a bug in a reduction"):
        watch.set_model(model)


def test_a_model_that_fails_on_the_probe_batch_is_blamed_on_probe_data(
    digits,
):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch((np.zeros((8, 5)), np.zeros(8)))
    with pytest.raises(ValueError, match="`probe_data` does not fit the model"):
        watch.set_model(model)


def test_labels_out_of_range_are_blamed_on_probe_data(digits):
    model = compiled(
        keras.Sequential([keras.Input((64,)), keras.layers.Dense(3)])
    )
    watch = ktw.GradientWatch((digits[0][:16], np.full(16, 7)))
    with pytest.raises(ValueError, match="`probe_data` does not fit"):
        watch.set_model(model)
