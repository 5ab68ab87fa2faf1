"""Every function of `_keras_compat` against the installed Keras.

`.ci/run` also runs this file (and a short watched fit) against the oldest
Keras of the supported range; see `scripts/check_oldest_keras.sh`.
"""

import keras
import numpy as np
import pytest

from keras_trainwatch import _keras_compat


def functional():
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        "sgd", "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model, hidden


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_layers_are_walked_one_level_and_all_levels():
    model, _ = functional()
    assert [lyr.name for lyr in _keras_compat.child_layers(model)] == [
        "x",
        "hidden",
        "out",
    ]
    names = [lyr.name for lyr in _keras_compat.all_layers(model)]
    assert names[0] == model.name and "hidden" in names


def test_graph_io_and_producer_follow_a_functional_graph():
    model, hidden = functional()
    _inputs, outputs = _keras_compat.graph_io(model)
    operation, node = _keras_compat.producer(outputs)
    assert operation.name == "out"
    assert node.input_tensors[0] is hidden
    assert _keras_compat.graph_io(Subclassed()) is None
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    assert _keras_compat.graph_io(sequential) is not None


def test_keras_mask_is_read_from_a_masked_tensor():
    inputs = keras.Input((5,))
    embedded = keras.layers.Embedding(10, 2, mask_zero=True)(inputs)
    assert _keras_compat.keras_mask(embedded) is not None
    assert _keras_compat.keras_mask(inputs) is None


def test_build_like_fit_builds_layers_loss_and_metrics():
    model = Subclassed()
    model.compile("sgd", "mse", metrics=["mae"])
    assert _keras_compat.needs_build(model)
    x, y = np.zeros((2, 4), "float32"), np.zeros((2, 2), "float32")
    _keras_compat.build_like_fit(model, (x, y, None))
    assert not _keras_compat.needs_build(model)
    assert _keras_compat.compiled_loss(model) is not None
    assert _keras_compat.compiled_metrics(model) is not None


def test_the_optimizer_is_built_on_its_own_after_the_rest():
    model = Subclassed()
    model.compile("adam", "mse", metrics=["mae"])
    x, y = np.zeros((2, 4), "float32"), np.zeros((2, 2), "float32")
    _keras_compat.build_like_fit(model, (x, y, None))
    assert not _keras_compat.needs_build(model)
    assert not model.optimizer.built

    def momentums():
        return [v for v in model.optimizer.variables if "momentum" in v.path]

    assert not momentums()
    _keras_compat.build_optimizer(model)
    assert model.optimizer.built
    assert len(momentums()) == len(model.trainable_variables)


def test_compute_loss_and_own_loss():
    model, _ = functional()
    x = np.ones((2, 4), "float32")
    y = np.array([0, 1])
    loss = _keras_compat.compute_loss(model, x, y, model(x), None)
    assert float(loss) > 0
    assert not _keras_compat.has_own_loss(model)

    class OwnLoss(Subclassed):
        def compute_loss(self, *args, **kwargs):
            return 0.0

    assert _keras_compat.has_own_loss(OwnLoss())


@pytest.mark.parametrize(
    "rate",
    [0.1, keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)],
)
def test_raw_learning_rate_keeps_a_schedule(rate):
    optimizer = keras.optimizers.SGD(rate)
    raw = _keras_compat.raw_learning_rate(optimizer)
    if isinstance(rate, float):
        assert float(keras.ops.convert_to_numpy(raw)) == pytest.approx(0.1)
    else:
        assert raw is rate


def test_metric_direction_as_keras_records_it():
    model, _ = functional()
    model.fit(np.ones((4, 4)), np.array([0, 1, 0, 1]), verbose=0)
    assert _keras_compat.metric_direction(model, "accuracy") == "up"
    assert _keras_compat.metric_direction(model, "unknown") is None


def test_print_msg_prints(capsys):
    _keras_compat.print_msg("hello")
    assert "hello" in capsys.readouterr().out


def test_has_default_name_tells_keras_names_from_the_users():
    assert _keras_compat.has_default_name(keras.optimizers.SGD())
    assert _keras_compat.has_default_name(keras.optimizers.RMSprop())
    assert not _keras_compat.has_default_name(keras.optimizers.SGD(name="g"))
    assert _keras_compat.has_default_name(keras.layers.Dense(2))
