"""Shared data and tiny models for the tests."""

from __future__ import annotations

import inspect
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that tf.distribute.MirroredStrategy has two
# replicas to split work over (must happen before TensorFlow initializes).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * 2,
)

from keras_trainwatch.datasets import load_digits  # noqa: E402


# Keras's clear_session runs a full garbage collection by default, about a
# third of a second a test whatever the test does; Python's own collector
# still runs as objects pile up.
_CLEAR_TAKES_FREE_MEMORY = (
    "free_memory" in inspect.signature(keras.backend.clear_session).parameters
)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from the same seeds and a clean Keras session."""
    if _CLEAR_TAKES_FREE_MEMORY:
        keras.backend.clear_session(free_memory=False)
    else:  # Keras before 3.9
        keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    """The shipped digits data: (x, y), x flattened to 64 values."""
    return load_digits()


@pytest.fixture(scope="session")
def digit_images():
    """The shipped digits data as (N, 8, 8, 1) images."""
    return load_digits(flatten=False)


@pytest.fixture(scope="session")
def regression_data():
    """A standardized nonlinear regression problem (x: 512x16, y: 512x1)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(16, 1)) / 4.0)
    y = ((y - y.mean()) / y.std()).astype("float32")
    return x, y


@pytest.fixture
def trainwatch_log(caplog):
    """Captures the keras_trainwatch logger."""
    caplog.set_level(logging.INFO, logger="keras_trainwatch")
    return caplog


def mlp(
    input_dim=64,
    depth=3,
    width=32,
    activation="relu",
    initializer="he_normal",
    bias=0.0,
    outputs=10,
    output_activation="softmax",
    names=None,
):
    """A Sequential MLP whose hidden layers are named hidden_0, hidden_1, ...

    `bias` may be a number for every hidden layer or a dict {depth: value}.
    """
    model = keras.Sequential([keras.Input((input_dim,))], name="mlp")
    for i in range(depth):
        b = bias.get(i, 0.0) if isinstance(bias, dict) else bias
        model.add(
            keras.layers.Dense(
                width,
                activation=activation,
                kernel_initializer=initializer,
                bias_initializer=keras.initializers.Constant(b),
                name=f"hidden_{i}",
            )
        )
    model.add(
        keras.layers.Dense(outputs, activation=output_activation, name="out")
    )
    return model


def compiled(model, optimizer="adam", loss="sparse_categorical_crossentropy"):
    model.compile(optimizer=optimizer, loss=loss)
    return model
