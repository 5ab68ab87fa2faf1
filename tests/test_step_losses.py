import keras
import numpy as np

from keras_trainwatch import step_losses
from keras_trainwatch.step_losses import StepLossReader


def test_each_execution_loss_is_recovered_from_the_running_mean():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = rng.normal(size=(100, 1)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    # A rate of 0: the weights never move, so each batch's loss can be
    # computed independently afterwards.
    model.compile(keras.optimizers.SGD(0.0), "mse")
    reader = StepLossReader()
    read = []

    class Snapshots(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            reader.start_epoch()

        def on_train_batch_end(self, batch, logs=None):
            if reader.snapshot(self.model, batch + 1):
                read.extend(reader.read())

        def on_epoch_end(self, epoch, logs=None):
            read.extend(reader.read())

    model.fit(
        x,
        y,
        batch_size=30,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[Snapshots()],
    )
    expected = [
        float(
            np.mean(
                (model.predict(x[i : i + 30], verbose=0) - y[i : i + 30]) ** 2
            )
        )
        for i in range(0, 100, 30)
    ]
    assert [step for step, _ in read] == [1, 2, 3, 4]
    np.testing.assert_allclose([loss for _, loss in read], expected, rtol=1e-5)


def test_reads_come_in_batches(monkeypatch):
    monkeypatch.setattr(step_losses, "READ_EVERY", 3)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 1)), np.ones((4, 1)), verbose=0)
    reader = StepLossReader()
    assert [reader.snapshot(model, s) for s in range(3)] == [False, False, True]
