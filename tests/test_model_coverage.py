"""The model coverage matrix: every kind of model and input Keras users write,
trained for real with a GradientWatch. Each entry works (and checks the value
that matters for it) or fails early with a clear error."""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_watched_silently, compiled, mlp

import keras_trainwatch as ktw

L = keras.layers
RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 16)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")
SEQ = RNG.normal(size=(256, 12, 3)).astype("float32")
TOKENS = RNG.integers(1, 50, size=(256, 10)).astype("int32")
TOKENS[:, :4] = 0  # padding, masked by Embedding(mask_zero=True)


@dataclasses.dataclass
class Entry:
    """model() -> compiled model; fit_args() -> (args, kwargs) for fit;
    probe() -> probe_data; check(watch, model) asserts what matters."""

    model: Callable
    fit_args: Callable
    probe: Callable
    check: Callable = lambda watch, model: None


def arrays(x, y):
    return lambda: ((x, y), {"batch_size": 32})


def head(x, units=2):
    return L.Dense(units, activation="softmax", name="head")(x)


def functional_two_branches():
    inputs = keras.Input((16,))
    a = L.Dense(8, activation="relu", name="a")(inputs)
    b = L.Dense(8, activation="tanh", name="b")(inputs)
    return compiled(keras.Model(inputs, head(L.Concatenate()([a, b]))))


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = L.Dense(16, activation="relu", name="hidden")
        self.out = L.Dense(2, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def multi_input_multi_output():
    left, right = (
        keras.Input((16,), name="left"),
        keras.Input((3,), name="right"),
    )
    h = L.Dense(8, activation="relu", name="shared")(
        L.Concatenate()([left, right])
    )
    model = keras.Model(
        {"left": left, "right": right},
        {
            "cls": L.Dense(2, activation="softmax", name="cls")(h),
            "reg": L.Dense(1, name="reg")(h),
        },
    )
    model.compile(
        "adam",
        loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        loss_weights={"cls": 1.0, "reg": 0.5},
    )
    return model


MIMO_X = {"left": X, "right": X[:, :3]}
MIMO_Y = {"cls": Y, "reg": X[:, :1]}


def check_mimo_loss(watch, model):
    x = {k: v[:64] for k, v in MIMO_X.items()}
    pred = model(x, training=True)
    cls = keras.losses.sparse_categorical_crossentropy(Y[:64], pred["cls"])
    reg = keras.losses.mean_squared_error(X[:64, :1], pred["reg"])
    expected = float(np.mean(cls) + 0.5 * np.mean(reg))
    assert watch.records[-1].loss == pytest.approx(expected, rel=1e-4)


WEIGHTS = np.where(np.arange(256) % 2 == 0, 1.0, 0.0).astype("float32")


def check_sample_weights(watch, model):
    pred = model(X[:64], training=True)
    expected = float(model.compute_loss(X[:64], Y[:64], pred, WEIGHTS[:64]))
    unweighted = float(model.compute_loss(X[:64], Y[:64], pred))
    assert watch.records[-1].loss == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(unweighted, rel=1e-3)


def masked_embedding_lstm():
    return compiled(
        keras.Sequential(
            [
                keras.Input((10,), dtype="int32"),
                L.Embedding(50, 8, mask_zero=True, name="emb"),
                L.LSTM(8, name="lstm"),
                L.Dense(2, activation="softmax"),
            ]
        )
    )


def check_masked(watch, model):
    record = watch.records[-1]
    assert record.layer("emb").grad_norm > 0
    assert record.time_gradients[0].steps is None  # masked: not compared
    assert_watched_silently(watch)


def recurrent_stack():
    return compiled(
        keras.Sequential(
            [
                keras.Input((12, 3)),
                L.SimpleRNN(8, return_sequences=True, name="simple"),
                L.GRU(8, return_sequences=True, name="gru"),
                L.LSTM(8, name="lstm"),
                L.Dense(2, activation="softmax"),
            ]
        )
    )


def check_recurrent(watch, model):
    record = watch.records[-1]
    for name in ("simple", "gru", "lstm"):
        weights = {w.name.split("/")[-1] for w in record.layer(name).weights}
        assert {"kernel", "recurrent_kernel"} <= weights
    [time] = record.time_gradients  # only the last layer returns one state
    assert (time.name, time.steps, time.gated) == ("lstm", 12, True)


def nested():
    inner = keras.Sequential(
        [keras.Input((16,)), L.Dense(8, activation="relu", name="d")],
        name="inner",
    )
    inputs = keras.Input((16,))
    return compiled(keras.Model(inputs, head(inner(inputs))))


def no_trainable_weights():
    return compiled(
        keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                L.Conv2D(4, 3, activation="relu", name="conv"),
                L.MaxPooling2D(),
                L.Dropout(0.2),
                L.Flatten(),
                L.Dense(2, activation="softmax", name="out"),
            ]
        )
    )


IMAGES = RNG.normal(size=(256, 8, 8, 1)).astype("float32")


def frozen():
    model = mlp(input_dim=16, depth=2, outputs=2)
    model.get_layer("hidden_0").trainable = False
    return compiled(model)


class CustomTrainStep(keras.Model):
    """A train_step of its own that still minimizes the compiled loss."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x, y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def custom_train_step():
    inputs = keras.Input((16,))
    return compiled(
        CustomTrainStep(inputs, head(L.Dense(8, activation="relu")(inputs)))
    )


def generator(x, y, batch=32):
    while True:
        for start in range(0, len(x), batch):
            yield x[start : start + batch], y[start : start + batch]


class Batches(keras.utils.PyDataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return X[index * 32 : (index + 1) * 32], Y[
            index * 32 : (index + 1) * 32
        ]


def bidirectional():
    return compiled(
        keras.Sequential(
            [
                keras.Input((12, 3)),
                L.Bidirectional(L.LSTM(8), name="bi"),
                L.Dense(2, activation="softmax"),
            ]
        )
    )


MATRIX = {
    "sequential": Entry(
        lambda: compiled(mlp(input_dim=16, depth=2, outputs=2)),
        arrays(X, Y),
        lambda: (X[:64], Y[:64]),
    ),
    "functional": Entry(
        functional_two_branches, arrays(X, Y), lambda: (X[:64], Y[:64])
    ),
    "subclassed": Entry(
        lambda: compiled(Subclassed()),
        arrays(X, Y),
        lambda: (X[:64], Y[:64]),
        lambda w, m: (
            w.records[-1].dead_units[0].source == "gradients" or pytest.fail()
        ),
    ),
    "multi_input_multi_output": Entry(
        multi_input_multi_output,
        arrays(MIMO_X, MIMO_Y),
        lambda: (
            {k: v[:64] for k, v in MIMO_X.items()},
            {k: v[:64] for k, v in MIMO_Y.items()},
        ),
        check_mimo_loss,
    ),
    "sample_weights": Entry(
        lambda: compiled(mlp(input_dim=16, depth=2, outputs=2)),
        lambda: ((X, Y), {"sample_weight": WEIGHTS, "batch_size": 32}),
        lambda: (X[:64], Y[:64], WEIGHTS[:64]),
        check_sample_weights,
    ),
    "masking_embedding": Entry(
        masked_embedding_lstm,
        arrays(TOKENS, Y),
        lambda: (TOKENS[:64], Y[:64]),
        check_masked,
    ),
    "recurrent_layers": Entry(
        recurrent_stack,
        arrays(SEQ, Y),
        lambda: (SEQ[:64], Y[:64]),
        check_recurrent,
    ),
    "bidirectional": Entry(
        bidirectional, arrays(SEQ, Y), lambda: (SEQ[:64], Y[:64])
    ),
    "nested_model": Entry(
        nested,
        arrays(X, Y),
        lambda: (X[:64], Y[:64]),
        lambda w, m: (
            [lyr.name for lyr in w.records[-1].layers] == ["inner/d", "head"]
            or pytest.fail()
        ),
    ),
    "no_trainable_weight_layers": Entry(
        no_trainable_weights, arrays(IMAGES, Y), lambda: (IMAGES[:64], Y[:64])
    ),
    "frozen_layers": Entry(
        frozen,
        arrays(X, Y),
        lambda: (X[:64], Y[:64]),
        lambda w, m: (
            "hidden_0" not in [lyr.name for lyr in w.records[-1].layers]
            or pytest.fail()
        ),
    ),
    "custom_train_step": Entry(
        custom_train_step, arrays(X, Y), lambda: (X[:64], Y[:64])
    ),
    "tf_data": Entry(
        lambda: compiled(mlp(input_dim=16, depth=2, outputs=2)),
        lambda: ((tf.data.Dataset.from_tensor_slices((X, Y)).batch(32),), {}),
        lambda: tf.data.Dataset.from_tensor_slices((X, Y)).batch(64),
    ),
    "generator": Entry(
        lambda: compiled(mlp(input_dim=16, depth=2, outputs=2)),
        lambda: ((generator(X, Y),), {"steps_per_epoch": 8}),
        lambda: generator(X, Y, batch=64),
    ),
    "py_dataset": Entry(
        lambda: compiled(mlp(input_dim=16, depth=2, outputs=2)),
        lambda: ((Batches(),), {}),
        lambda: Batches(),
    ),
}


@pytest.mark.parametrize("name", list(MATRIX))
def test_model_matrix(name):
    entry = MATRIX[name]
    model = entry.model()
    watch = ktw.GradientWatch(
        entry.probe(), every_n_steps=4, on_finding=lambda f: None
    )
    args, kwargs = entry.fit_args()
    history = model.fit(*args, epochs=2, verbose=0, callbacks=[watch], **kwargs)
    assert np.isfinite(history.history["loss"][-1])
    assert len(watch.records) >= 3 and watch.probe.tracing_count == 1
    record = watch.records[-1]
    assert record.layers and all(
        np.isfinite(layer.grad_norm) and layer.grad_norm > 0
        for layer in record.layers
    )
    assert all(f.kind != "exploding_gradients" for f in watch.findings)
    entry.check(watch, model)


class GanLike(keras.Model):
    """A custom train_step with optimizers of its own and no compiled loss."""

    def __init__(self):
        super().__init__()
        self.dense = L.Dense(1)

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        return {}


def test_custom_train_step_without_a_compiled_loss_fails_before_training():
    model = GanLike()
    model.compile(optimizer="adam")
    watch = ktw.GradientWatch((X[:64], Y[:64]))
    with pytest.raises(
        ValueError,
        match="has none: compile it with `loss=`.*custom `train_step`",
    ):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[watch])
    assert int(model.optimizer.iterations.numpy()) == 0
