import inspect

import keras
import numpy as np
import pytest
from records import make_record

import keras_trainwatch as ktw
from keras_trainwatch.detectors import DeadReluDetector, DetectorSuite

pytestmark = pytest.mark.fast


def make_suite(**changes):
    """A suite with the watch's defaults, but for `changes`."""
    watch_defaults = inspect.signature(ktw.GradientWatch).parameters
    arguments = {
        name: watch_defaults[name].default
        for name in inspect.signature(DetectorSuite).parameters
    }
    return DetectorSuite(**{**arguments, **changes})


def test_a_watchs_suite_has_its_thresholds():
    watch = ktw.GradientWatch(
        (np.zeros((2, 3)), np.zeros((2, 1))), dead_fraction=0.3
    )
    [dead] = [d for d in watch.detectors.detectors if "dead_relu" in d.kinds]
    assert dead.max_dead_fraction == 0.3


def test_rules_turned_off_take_nothing():
    suite = make_suite(loss_patience=None, loss_spike_z=None)
    assert not suite.watches_spikes and suite.loss_progress is None
    losses = iter([(0, 1.0), (1, 100.0)])
    assert suite.spikes(0, losses) == []
    assert next(losses) == (0, 1.0), "the step losses were not read"
    suite.observe_epoch_loss(1.0)  # nothing to tell, and no error
    assert suite.history_size == max(d.history_size for d in suite.detectors)


def test_no_gradient_at_all_hides_its_consequences():
    # Every gradient is 0 and a layer's units are all dead: the dead-unit
    # rule alone finds them, the suite names the blocked gradient instead,
    # once a second probe with the same loss confirms it.
    record = make_record(
        layers=[("dense", 0.0, 1.0), ("out", 0.0, 1.0)],
        dead=[("dense", 8, 8)],
    )
    assert [f.kind for f in DeadReluDetector()(record, [])] == ["dead_relu"]
    assert make_suite()(record, []) == []
    assert [f.kind for f in make_suite()(record, [record])] == ["no_gradient"]


def test_a_blocked_probe_batch_while_training_moves_the_loss_is_not_no_gradient():
    # The probe batch's outputs are all 0 (a ReLU output at initialization),
    # but the training batches moved the weights: the probe loss changed.
    first = make_record(layers=[("out", 0.0, 1.0)], loss=0.69)
    later = make_record(layers=[("out", 0.0, 1.0)], loss=0.52, step=10)
    assert make_suite()(later, [first]) == []


def test_construction_checks_come_before_the_probes_findings():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(1, activation="softmax")]
    )
    model.compile("sgd", "categorical_crossentropy")
    suite = make_suite()
    suite.attach(model, np.ones((8, 1), "float32"))
    record = make_record(
        layers=[("dense", 1.0, 1.0)], dead=[("hidden", 8, 8)], step=5
    )
    kinds = [f.kind for f in suite(record, [])]
    assert kinds[0] == "mismatched_output" and "dead_relu" in kinds
    assert all(f.step == 5 for f in suite(record, []))


def test_epoch_losses_reach_the_loss_rules():
    suite = make_suite(loss_patience=2)
    suite.start_fit(planned_epochs=None)
    record = make_record(layers=[("dense", 1.0, 1.0)])
    for loss in (1.0, 1.0, 1.0):
        assert suite(record, []) == []
        suite.observe_epoch_loss(loss)
    assert [f.kind for f in suite(record, [])] == ["loss_not_improving"]
    suite.reset()
    assert suite(record, []) == []


def test_spikes_are_found_among_the_step_losses():
    suite = make_suite(loss_spike_z=6.0)
    rng = np.random.default_rng(0)
    steady = [(step, 1.0 + 0.05 * rng.normal()) for step in range(40)]
    assert suite.spikes(0, steady) == []
    [spike] = suite.spikes(2, [(40, 5.0), (41, 5.0)])
    assert (spike.kind, spike.step, spike.epoch) == ("loss_spike", 40, 2)
