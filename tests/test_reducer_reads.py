"""AutoLRReducer reads the loss in batches, not after every step, and no
checkpoint ever holds non-finite weights for it."""

import keras
import numpy as np
import pytest
from helpers import regression_mlp

import keras_trainwatch as ktw
from keras_trainwatch.reducer.save_guard import SaveGuard
from keras_trainwatch.watch import step_losses

pytestmark = pytest.mark.backends


def counted_reads(monkeypatch):
    """Counts the reads of per-step losses from the device."""
    reads = []
    original = step_losses.to_numpy

    def to_numpy(value):
        reads.append(1)
        return original(value)

    monkeypatch.setattr(step_losses, "to_numpy", to_numpy)
    return reads


def test_alone_it_reads_the_loss_every_16_steps_and_at_epoch_ends(
    regression_data, monkeypatch
):
    x, y = regression_data
    reads = counted_reads(monkeypatch)
    model = regression_mlp(keras.optimizers.SGD(0.01))
    reducer = ktw.AutoLRReducer(monitor=None)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[reducer])
    # 64 steps an epoch: reads after steps 16, 32, 48 and 64 (the epoch's
    # end finds nothing pending), instead of 64.
    assert len(reads) == 8


def test_with_a_watch_it_adds_no_read_of_its_own(regression_data, monkeypatch):
    x, y = regression_data
    counts = []
    for reducer in (False, True):
        reads = counted_reads(monkeypatch)
        model = regression_mlp(keras.optimizers.SGD(0.01))
        watch = ktw.GradientWatch((x[:64], y[:64]), every_n_steps=20)
        callbacks = [watch]
        if reducer:
            callbacks.append(ktw.AutoLRReducer(monitor=None, watch=watch))
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
        counts.append(len(reads))
    assert counts[1] == counts[0] < 128


def test_a_run_that_diverges_is_stopped_at_the_next_read(regression_data):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(2.0))
    losses = []
    seen = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: losses.append(logs["loss"])
    )
    with pytest.raises(ktw.TrainingDivergedError, match=r"at step (\d+)"):
        model.fit(
            x,
            y,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[ktw.AutoLRReducer(monitor=None, rollback=False), seen],
        )
    first_bad = int(np.argmin(np.isfinite(losses)))
    assert not np.isfinite(losses[first_bad])
    # Stopped at the read that followed it: at most 16 steps later.
    assert len(losses) - first_bad <= 16


def diverging_fit_with_checkpoints(tmp_path, **reducer_kwargs):
    """SGD 2.0 on the regression MLP, a `ModelCheckpoint` saving after
    every batch; returns the reducer, the checkpoint files and the error
    (or None)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = regression_mlp(keras.optimizers.SGD(2.0))
    reducer = ktw.AutoLRReducer(monitor=None, **reducer_kwargs)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "e{epoch}_b{batch}.weights.h5"),
        save_weights_only=True,
        save_freq=1,
    )
    error = None
    try:
        # The checkpoint first: its saves come before the reducer's
        # callbacks, which cannot help.
        model.fit(
            x,
            y,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[checkpoint, reducer],
        )
    except ktw.TrainingDivergedError as diverged:
        error = diverged
    return model, reducer, sorted(tmp_path.glob("*.weights.h5")), error


def all_finite(model, path):
    model.load_weights(path)
    return all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("rollback", [False, True])
def test_a_checkpoint_saved_every_step_never_holds_non_finite_weights(
    tmp_path, rollback
):
    model, reducer, saved, error = diverging_fit_with_checkpoints(
        tmp_path, rollback=rollback
    )
    assert (error is not None) != rollback
    assert rollback == (reducer.rollbacks > 0)
    # Ended by the error or not, the model's own methods are back.
    assert "save" not in vars(model) and "save_weights" not in vars(model)
    assert saved
    assert all(all_finite(model, path) for path in saved)


def test_without_the_guard_the_same_checkpoints_would_hold_nan(
    tmp_path, monkeypatch
):
    # What the test above guards against does happen: with the loss read
    # in batches and nothing checking before a save, steps between a
    # non-finite step and the next read are saved.
    monkeypatch.setattr(SaveGuard, "install", lambda self, model: None)
    model, _reducer, saved, error = diverging_fit_with_checkpoints(
        tmp_path, rollback=False
    )
    assert error is not None
    assert not all(all_finite(model, path) for path in saved)


@pytest.mark.parametrize("rollback", [False, True])
def test_weights_overflowed_after_a_finite_loss_are_not_saved(
    regression_data, tmp_path, rollback
):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(0.01))

    class Overflow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            # Through `self.model`, which on JAX hands fit's state over and
            # has fit take the assigned value.
            if batch == 5:
                kernel = self.model.layers[0].kernel
                kernel.assign(np.full(kernel.shape, np.inf))

    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "last.weights.h5"), save_weights_only=True, save_freq=1
    )
    reducer = ktw.AutoLRReducer(monitor=None, rollback=rollback)
    callbacks = [
        reducer,
        Overflow(),
        checkpoint,
    ]
    if rollback:
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=callbacks)
        assert reducer.rollbacks == 1
        assert "non-finite weights at step 6" in reducer.reductions[0].reason
    else:
        with pytest.raises(
            ktw.TrainingDivergedError, match="non-finite weights at step 6"
        ):
            model.fit(
                x, y, epochs=1, batch_size=32, verbose=0, callbacks=callbacks
            )
    assert all_finite(model, tmp_path / "last.weights.h5")


def test_the_saving_methods_are_the_models_own_after_fit(regression_data):
    x, y = regression_data
    model = regression_mlp(keras.optimizers.SGD(0.01))
    model.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[ktw.AutoLRReducer(monitor=None)],
    )
    assert "save" not in vars(model) and "save_weights" not in vars(model)
