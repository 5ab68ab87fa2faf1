import keras
import numpy as np
import pytest

from keras_trainwatch.step_hook import TrainStepHook
from keras_trainwatch.watch import step_losses
from keras_trainwatch.watch.step_losses import StepLossReader

pytestmark = pytest.mark.backends


def losses_of_a_fit(batch_size, samples=120, steps_per_execution=1):
    """(read step losses, each batch's own loss computed independently)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = rng.normal(size=(samples, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # A rate of 0: the weights never move, so each batch's loss can be
    # computed independently afterwards.
    model.compile(
        keras.optimizers.SGD(0.0),
        "mse",
        steps_per_execution=steps_per_execution,
    )
    reader, read, done = StepLossReader(), [], [0]
    steps_per_epoch = -(-samples // batch_size)

    def after_execution(logs):
        done[0] = min(done[0] + steps_per_execution, steps_per_epoch)
        if reader.snapshot(logs, done[0], done[0]):
            read.extend(reader.read())

    hook = TrainStepHook(after_execution)

    class Install(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            reader.start_epoch()
            hook.install(self.model)

        def on_epoch_end(self, epoch, logs=None):
            read.extend(reader.read())

    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[Install()],
    )
    per_batch = [
        float(
            np.mean(
                (
                    model.predict(x[i : i + batch_size], verbose=0)
                    - y[i : i + batch_size]
                )
                ** 2
            )
        )
        for i in range(0, samples, batch_size)
    ]
    return read, per_batch


def test_each_step_loss_is_recovered_from_the_running_mean():
    read, per_batch = losses_of_a_fit(batch_size=30)
    assert [step for step, _ in read] == [1, 2, 3, 4]
    np.testing.assert_allclose([loss for _, loss in read], per_batch, rtol=1e-5)


@pytest.mark.only_on(
    "tensorflow", "jax", reason="Keras's PyTorch trainer runs one step a call"
)
def test_with_several_steps_per_execution_each_execution_gets_its_mean():
    read, per_batch = losses_of_a_fit(batch_size=20, steps_per_execution=2)
    assert [step for step, _ in read] == [2, 4, 6]
    expected = [np.mean(per_batch[i : i + 2]) for i in range(0, 6, 2)]
    np.testing.assert_allclose([loss for _, loss in read], expected, rtol=1e-5)


def test_a_smaller_last_batch_lies_between_its_loss_and_the_mean():
    read, per_batch = losses_of_a_fit(batch_size=50)  # 50, 50, 20
    np.testing.assert_allclose(
        [loss for _, loss in read[:2]], per_batch[:2], rtol=1e-5
    )
    mean_before = np.mean(per_batch[:2])
    low, high = sorted([mean_before, per_batch[2]])
    assert low - 1e-6 <= read[2][1] <= high + 1e-6


def test_reads_come_in_batches_after_the_first_steps(monkeypatch):
    monkeypatch.setattr(step_losses, "READ_EVERY", 3)
    monkeypatch.setattr(step_losses, "READ_EACH_BEFORE", 2)
    reader = StepLossReader()
    logs = {"loss": keras.ops.convert_to_tensor(1.0)}
    # Steps 1 and 2 are read one by one; then 3 at a time.
    assert [reader.snapshot(logs, s, s) for s in (1, 2)] == [True, True]
    assert [step for step, _ in reader.read()] == [1, 2]
    assert [reader.snapshot(logs, s, s) for s in (3, 4, 5)] == [
        False,
        False,
        True,
    ]
    assert reader.snapshot("not a dict", 6, 6) is False
    assert [step for step, _ in reader.read()] == [3, 4, 5]
    assert reader.read() == []


def test_means_become_step_losses():
    reader = StepLossReader()
    for steps, mean in [(1, 2.0), (2, 3.0), (3, 2.0)]:
        reader.snapshot(
            {"loss": keras.ops.convert_to_tensor(mean)}, steps, steps
        )
    assert [loss for _, loss in reader.read()] == pytest.approx([2.0, 4.0, 0.0])


def test_a_mean_restarted_mid_epoch_counts_from_the_restart():
    # Keras's mean is reset after step 2 (a rollback): the mean of steps 3
    # and 4 alone is what the next snapshots hold.
    reader = StepLossReader()
    for steps, mean in [(1, 2.0), (2, 3.0)]:
        reader.snapshot(
            {"loss": keras.ops.convert_to_tensor(mean)}, steps, steps
        )
    reader.restart_mean(epoch_steps=2)
    for steps, mean in [(3, 5.0), (4, 6.0)]:
        reader.snapshot(
            {"loss": keras.ops.convert_to_tensor(mean)}, steps, steps
        )
    read = reader.read()
    assert [step for step, _ in read] == [1, 2, 3, 4]
    assert [loss for _, loss in read] == pytest.approx([2.0, 4.0, 5.0, 7.0])


def test_after_a_rollback_mid_epoch_the_step_losses_stay_each_steps_own():
    # A rollback resets Keras's running loss mean in the middle of the
    # epoch; the losses read after it must still be each batch's own. A
    # rate of 0 keeps the weights fixed, so each batch's loss is computed
    # independently afterwards.
    import keras_trainwatch as ktw

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 4)).astype("float32")
    y = rng.normal(size=(640, 1)).astype("float32")
    y[160:176] *= 1000.0  # batch 10, step 11: a spike, rolled back
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.0), "mse")
    watch = ktw.GradientWatch((x[:64], y[:64]), on_finding=lambda f: None)
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch, rollback=True)
    read = []
    watch.subscribe_step_losses(read.extend)
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[watch, reducer],
    )
    assert reducer.rollbacks == 1
    per_batch = [
        float(
            np.mean(
                (model.predict(x[i : i + 16], verbose=0) - y[i : i + 16]) ** 2
            )
        )
        for i in range(0, 640, 16)
    ]
    assert [step for step, _ in read] == list(range(1, 41))
    np.testing.assert_allclose([loss for _, loss in read], per_batch, rtol=1e-4)
