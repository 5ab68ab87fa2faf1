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


def test_the_snapshot_size_is_counted_from_the_variables():
    model, _ = trained_model()
    snapshot = HealthySnapshot(model)
    assert snapshot.take()
    assert snapshot.nbytes() == sum(v.nbytes for v in snapshot._values) > 0


def diverging_fit(tmp_path=None, **reducer_kwargs):
    """SGD 2.0 on a small regression MLP, which turns non-finite within
    its first epoch; returns the reducer and the `TrainingDivergedError`
    (or `None`)."""
    import keras_trainwatch as ktw

    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16,))]
        + [keras.layers.Dense(32, activation="relu") for _ in range(3)]
        + [keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(2.0), "mse")
    reducer = ktw.AutoLRReducer(monitor=None, **reducer_kwargs)
    try:
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[reducer])
    except ktw.TrainingDivergedError as error:
        return reducer, error
    return reducer, None


def test_auto_rolls_back_when_the_snapshot_fits_in_memory():
    reducer, error = diverging_fit()
    assert reducer.rollback == "auto" and reducer.rolls_back
    assert error is None and reducer.rollbacks >= 1


def test_auto_is_off_for_a_snapshot_too_large_and_says_so(monkeypatch, caplog):
    from keras_trainwatch.reducer import rollback

    # As if the model were too large to copy in memory.
    monkeypatch.setattr(rollback, "AUTO_ROLLBACK_MAX_BYTES", 1000)
    with caplog.at_level("INFO", logger="keras_trainwatch"):
        reducer, error = diverging_fit()
    assert not reducer.rolls_back and reducer.rollbacks == 0
    assert error is not None
    [line] = [
        r.getMessage()
        for r in caplog.records
        if "rollback is off" in r.getMessage()
    ]
    assert "GiB in memory" in line and "rollback_dir" in line


def test_auto_with_a_rollback_dir_keeps_the_snapshot_on_disk(
    monkeypatch, tmp_path
):
    from keras_trainwatch.reducer import rollback

    monkeypatch.setattr(rollback, "AUTO_ROLLBACK_MAX_BYTES", 1000)
    reducer, error = diverging_fit(rollback_dir=str(tmp_path))
    assert reducer.rolls_back and error is None and reducer.rollbacks >= 1
