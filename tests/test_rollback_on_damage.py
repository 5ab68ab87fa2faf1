"""AutoLRReducer(rollback=True) rescues a network whose layer died: it goes
back to the last healthy state instead of lowering the rate on dead weights
(the keras.io convnet at SGD 5.0, issue 27), within a bounded number of
attempts."""

import os
import re
import sys

import keras
import numpy as np
import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

# The benchmark's network and its independent count of dead channels: the
# test and the benchmark label runs the same way.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from rescue_digits import CASES, convnet, run

pytestmark = pytest.mark.backends


def case(name):
    [found] = [c for c in CASES if c.name.startswith(name)]
    return found


def test_a_dead_convnet_is_rolled_back_and_trains_like_its_healthy_twin():
    healthy = run(case("convnet, SGD 0.5"), None, epochs=2)
    lowered_only = run(case("convnet, SGD 5"), False, epochs=2)
    rescued = run(case("convnet, SGD 5"), True, epochs=2)
    assert healthy["accuracy"][-1] > 0.8, "the twin at a sane rate learns"
    assert lowered_only["accuracy"][-1] < 0.2, "a lower rate alone"
    assert lowered_only["dead"] >= 0.9
    assert rescued["rollbacks"] >= 1
    assert "cannot revive" in rescued["reductions"][0].reason
    assert rescued["accuracy"][-1] > healthy["accuracy"][-1] - 0.1
    assert rescued["dead"] < 0.9


def test_rollbacks_are_bounded_and_then_training_stops(caplog):
    # A factor too mild to save the run: every attempt dies again.
    result = run(
        case("convnet, SGD 5"), True, epochs=3, factor=0.99, max_rollbacks=2
    )
    assert result["rollbacks"] == 2
    assert "giving up after 2 rollbacks" in caplog.text
    # What to change is named, with the rate the last attempt failed at.
    # (5.0 lowered by 0.99 at each reduction).
    assert re.search(r"\(now 4\.[89]\d*\)", caplog.text)
    assert "smaller `factor`" in caplog.text
    # The healthy weights restored are those before any step: the
    # untrained network's accuracy, measured on its own.
    x, y = load_digits(flatten=False)
    keras.utils.set_random_seed(0)
    untrained = convnet()
    untrained.compile(
        loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    _, accuracy = untrained.evaluate(x[1400:], y[1400:], verbose=0)
    assert result["accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.only_on(
    "tensorflow",
    reason="JAX and PyTorch clip cross-entropy at -log(1e-7) = 16.1, under the 10x jump the spike rule needs from 2.3",
)
def test_a_blow_up_in_the_first_steps_is_seen_at_once_and_probed():
    # Probing only at epoch ends: the jump of the loss in the first steps is
    # read step by step and followed by a probe right away.
    x, y = load_digits(flatten=False)
    keras.utils.set_random_seed(0)
    model = convnet()
    model.compile(keras.optimizers.SGD(5.0), "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch((x[1400:1464], y[1400:1464]))
    model.fit(x[:1400], y[:1400], epochs=1, verbose=0, callbacks=[watch])
    [spike] = [f for f in watch.findings if f.kind == "loss_spike"]
    assert spike.step < 16
    probed = [r.step for r in watch.records]
    assert probed[0] == 0 and spike.step in probed, probed
    steps_per_epoch = 44
    assert probed[-1] == steps_per_epoch


def test_a_blow_up_at_the_second_step_is_rolled_back_to_before_it():
    # RMSprop at 0.3 on a regression (the rescue benchmark's
    # rmsprop_lr_0.3_regression): 3.3, then 1e9 at the second step.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0)
    y = ((y - y.mean()) / y.std()).astype("float32")

    def fit(callbacks):
        keras.utils.set_random_seed(0)
        model = compiled(
            mlp(input_dim=16, width=64, outputs=1, output_activation=None),
            optimizer=keras.optimizers.RMSprop(0.3),
            loss="mse",
        )
        history = model.fit(
            x, y, epochs=2, batch_size=32, verbose=0, callbacks=callbacks
        )
        return history.history["loss"][-1]

    unwatched = fit([])
    watch = ktw.GradientWatch((x[:256], y[:256]), on_finding=lambda f: None)
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch, rollback=True)
    rescued = fit([watch, reducer])
    [spike, *_] = [f for f in watch.findings if f.kind == "loss_spike"]
    assert spike.step <= 3, "seen in the first steps"
    assert reducer.reductions[0].reason.startswith(
        f"rollback 1 after a loss spike at step {spike.step}"
    )
    assert rescued < 1.0 < unwatched
