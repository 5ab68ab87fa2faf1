import keras
import pytest

from keras_trainwatch.reducer.plateau import PlateauCounter

pytestmark = pytest.mark.fast


def run(counter, values):
    """The epochs (0-based) at which a reduction is due, reducing each time."""
    due = []
    for epoch, value in enumerate(values):
        if counter.update(value):
            due.append(epoch)
            counter.reduced()
    return due


@pytest.mark.parametrize(
    "mode, patience, cooldown, values, expected",
    [
        ("min", 2, 0, [1.0, 1.0, 1.0, 1.0, 1.0], [2, 4]),
        ("min", 0, 0, [1.0, 0.5, 0.5, 0.5], [2, 3]),  # patience 0
        ("min", 1, 2, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1, 3, 5]),
        ("max", 2, 0, [0.5, 0.6, 0.6, 0.6], [3]),
        ("min", 2, 0, [1.0, 0.9, 0.8, 0.7], []),
    ],
)
def test_same_rule_as_reduce_lr_on_plateau(
    mode, patience, cooldown, values, expected
):
    counter = PlateauCounter(
        mode, min_delta=1e-4, patience=patience, cooldown=cooldown
    )
    assert run(counter, values) == expected
    assert expected == keras_reductions(mode, patience, cooldown, values)


def keras_reductions(mode, patience, cooldown, values):
    """The epochs at which Keras's own ReduceLROnPlateau reduces."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    callback = keras.callbacks.ReduceLROnPlateau(
        "loss",
        factor=0.5,
        patience=patience,
        mode=mode,
        min_delta=1e-4,
        cooldown=cooldown,
    )
    callback.set_model(model)
    callback.on_train_begin()
    due, rate = [], 1.0
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"loss": value})
        new_rate = float(model.optimizer.learning_rate.numpy())
        if new_rate < rate:
            due.append(epoch)
        rate = new_rate
    return due


def test_changes_smaller_than_min_delta_do_not_count():
    counter = PlateauCounter("min", min_delta=0.1, patience=2, cooldown=0)
    assert run(counter, [1.0, 0.95, 0.91]) == [2]
    assert counter.best == 1.0


def test_reset_forgets_everything():
    counter = PlateauCounter("min", min_delta=0.0, patience=5, cooldown=3)
    run(counter, [1.0, 2.0])
    counter.reduced()
    counter.reset()
    assert (counter.best, counter.wait, counter.cooldown_counter) == (
        None,
        0,
        0,
    )


def test_auto_mode_must_be_resolved_before_counting():
    counter = PlateauCounter("auto", 0.0, 1, 0)
    counter.update(1.0)  # the first value is the best so far
    with pytest.raises(RuntimeError, match="resolve_mode"):
        counter.update(0.5)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="`mode`.*Received: mode='up'"):
        PlateauCounter("up", 0.0, 1, 0)
    with pytest.raises(ValueError, match="`patience`.*Received: patience=-1"):
        PlateauCounter("min", 0.0, -1, 0)
