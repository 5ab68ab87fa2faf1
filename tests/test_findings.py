import math

import pytest

import keras_trainwatch as ktw

pytestmark = pytest.mark.fast


def test_remedy_defaults_to_the_known_one_for_each_kind():
    remedies = {
        kind: ktw.Finding(kind, "dense", 0, 0, 1.0, 0.5, "msg").remedy
        for kind in ktw.KINDS
    }
    assert "ReLU" in remedies["vanishing_gradients"]
    assert "batch normalization" in remedies["exploding_gradients"]
    assert "lower the learning rate" in remedies["exploding_gradients"]
    assert remedies["dead_relu"] == "Lower the learning rate."


def test_seen_again_keeps_the_first_sighting_and_updates_the_last():
    first = ktw.Finding("dead_relu", "dense", 0, 10, 0.6, 0.5, "msg")
    later = ktw.Finding("dead_relu", "dense", 2, 30, 0.8, 0.5, "msg")
    merged = first.seen_again(later)
    assert (merged.epoch, merged.step, merged.value) == (0, 10, 0.6)
    assert (merged.last_epoch, merged.last_step, merged.last_value) == (
        2,
        30,
        0.8,
    )
    assert merged.occurrences == 2
    assert (first.last_step, first.occurrences) == (10, 1)


def test_str_has_message_and_remedy():
    finding = ktw.Finding("dead_relu", "dense", 0, 0, 0.6, 0.5, "Dead units.")
    assert str(finding) == "Dead units. Remedy: Lower the learning rate."


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="`kind`.*Received: kind='slow'"):
        ktw.Finding("slow", "dense", 0, 0, 1.0, 1.0, "msg")


def test_a_later_non_finite_value_becomes_the_last_value():
    first = ktw.Finding("exploding_gradients", "dense", 0, 0, 5.0, 1e3, "msg")
    later = ktw.Finding(
        "exploding_gradients", "dense", 1, 8, float("nan"), 1e3, "msg"
    )
    merged = first.seen_again(later)
    assert merged.value == 5.0
    assert math.isnan(merged.last_value)
    assert merged.last_step == 8


def test_a_model_wide_finding_has_no_layer():
    finding = ktw.Finding(
        "exploding_gradients", None, 0, 3, float("inf"), 0.0, "msg"
    )
    assert finding.layer is None
    assert finding.where == "the loss"
    assert finding.key == ("exploding_gradients", None)
