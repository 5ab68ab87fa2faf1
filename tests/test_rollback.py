import copy

import keras
import numpy as np
import pytest

from keras_trainwatch.reducer.rollback import HealthySnapshot, Rollback

pytestmark = pytest.mark.backends


def trained_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3),
            keras.layers.BatchNormalization(),
        ]
    )
    model.compile(keras.optimizers.Adam(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, np.ones((32, 3)), epochs=1, verbose=0)
    return model, x


def state(model):
    return [
        keras.ops.convert_to_numpy(v)
        for v in model.variables + model.optimizer.variables
    ]


@pytest.mark.parametrize("on_disk", [False, True])
def test_snapshot_restores_weights_statistics_and_optimizer_slots(
    tmp_path, on_disk
):
    model, x = trained_model()
    snapshot = HealthySnapshot(model, str(tmp_path) if on_disk else None)
    snapshot.take()
    before = state(model)
    iterations = int(model.optimizer.iterations.numpy())
    model.fit(x, np.ones((32, 3)), epochs=2, verbose=0)
    snapshot.restore()
    after = state(model)
    step_index = [
        v.path for v in model.variables + model.optimizer.variables
    ].index(model.optimizer.iterations.path)
    for i, (b, a) in enumerate(zip(before, after)):
        if i != step_index:
            np.testing.assert_array_equal(a, b)
    # The step count moves on: step axes stay monotonic across a rollback.
    assert int(model.optimizer.iterations.numpy()) > iterations
    snapshot.discard()
    assert not list(tmp_path.iterdir())


def test_rollback_counts_and_gives_up_after_the_budget():
    model, _x = trained_model()
    rollback = Rollback(max_rollbacks=2)
    rollback.start(model)
    healthy = state(model)[0]
    assert rollback.restore(step=3) and rollback.count == 1
    assert rollback.last_step == 3
    assert rollback.restore(step=5) and rollback.count == 2
    model.layers[0].kernel.assign(np.full((4, 3), np.nan))
    assert not rollback.restore(step=7), "the budget is spent"
    np.testing.assert_array_equal(state(model)[0], healthy)
    rollback.finish()
    rollback.start(model)
    assert rollback.count == 0


def test_a_copy_starts_empty():
    model, _ = trained_model()
    rollback = Rollback(max_rollbacks=3)
    rollback.start(model)
    rollback.restore(step=1)
    twin = copy.deepcopy(rollback)
    assert (twin.count, twin.max_rollbacks, twin._snapshot) == (0, 3, None)


def test_a_non_finite_state_is_never_taken_as_healthy():
    model, _x = trained_model()
    snapshot = HealthySnapshot(model)
    assert snapshot.take()
    healthy = state(model)
    # An update that overflowed one weight: the loss before it was finite.
    model.layers[0].kernel.assign(np.full((4, 3), np.inf))
    assert not snapshot.take()
    snapshot.restore()
    for kept, value in zip(healthy, state(model)):
        np.testing.assert_array_equal(kept, value)
