"""Shared data and tiny models for the tests."""

from __future__ import annotations

import inspect
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A bug of the package raises in its tests instead of being logged and
# skipped, so that no test passes for a watch that turned a rule off.
os.environ["KERAS_TRAINWATCH_STRICT"] = "1"

from keras_trainwatch._quiet import import_tensorflow


def _two_cpus(tf):
    """Two logical CPU devices, so that tf.distribute.MirroredStrategy has
    two replicas to split work over (before TensorFlow sets up devices)."""
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )


# Under KERAS_BACKEND=jax or torch, the backend-neutral tests (marked
# `backends`) run without touching TensorFlow.
ON_TENSORFLOW = os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
if ON_TENSORFLOW:
    import_tensorflow(before_devices=_two_cpus)  # without its start-up noise

import keras
import numpy as np
import pytest

from keras_trainwatch.datasets import load_digits

# Keras's clear_session runs a full garbage collection by default, about a
# third of a second a test whatever the test does; Python's own collector
# still runs as objects pile up.
_CLEAR_TAKES_FREE_MEMORY = (
    "free_memory" in inspect.signature(keras.backend.clear_session).parameters
)


def pytest_collection_modifyitems(config, items):
    """Deselects (and reports so) the tests of another backend's behaviour,
    marked `only_on(...)`: under JAX or PyTorch, e.g., the tests of
    TensorFlow's eager first probe."""
    backend = keras.backend.backend()
    kept, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("only_on")
        if marker is None or backend in marker.args:
            kept.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


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
