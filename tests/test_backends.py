"""The probe on every Keras backend: the same statistics from TensorFlow,
JAX and PyTorch on identical weights, and the package working where
TensorFlow cannot be imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"
BACKENDS = ("tensorflow", "jax", "torch")


def _run(script, backend, *args, env=None):
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "KERAS_BACKEND": backend,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **(env or {}),
        },
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def statistics_by_backend():
    return {
        backend: json.loads(_run("probe_on_backend.py", backend))
        for backend in BACKENDS
    }


def _figures(statistics):
    for kind, values in statistics.items():
        if isinstance(values, dict):
            for name, value in values.items():
                for i, number in enumerate(
                    value if isinstance(value, list) else [value]
                ):
                    yield (kind, name, i), number


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_statistic_agrees_with_tensorflow_on_identical_weights(
    statistics_by_backend, backend
):
    reference = dict(_figures(statistics_by_backend["tensorflow"]))
    other = dict(_figures(statistics_by_backend[backend]))
    assert statistics_by_backend[backend]["backend"] == backend
    # JAX cannot differentiate a layer output (the recurrent early/late
    # comparison): the only figures it leaves out.
    missing = set(reference) - set(other)
    assert {key[0] for key in missing} <= (
        {"early_late"} if backend == "jax" else set()
    )
    assert not set(other) - set(reference)
    assert len(other) >= 44
    for key, value in other.items():
        # The Dense bias before batch normalization has a true gradient of
        # 0 (normalization removes it): each backend's is float32 rounding
        # of about 1e-7, hence the absolute tolerance.
        assert value == pytest.approx(reference[key], rel=1e-5, abs=1e-6), key
    loss = statistics_by_backend["tensorflow"]["loss"]
    assert statistics_by_backend[backend]["loss"] == pytest.approx(loss, 1e-6)


def test_the_record_holds_what_the_comparison_needs(statistics_by_backend):
    # Otherwise the comparison above could pass on empty sections.
    tf_figures = statistics_by_backend["tensorflow"]
    assert tf_figures["dead_units"]["dense"] > 0
    assert 0 < tf_figures["saturated"]["dense_1"] < 1
    assert (
        tf_figures["data_grad_norm"]["dense/kernel"]
        < (tf_figures["grad_norm"]["dense/kernel"])
    )
    assert statistics_by_backend["torch"]["early_late"]["simple_rnn"][0] > 0


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_watched_fit_without_tensorflow(tmp_path, backend):
    out = _run("fit_without_tensorflow.py", backend, str(tmp_path))
    report = json.loads(out.splitlines()[-1])
    assert report["tensorflow_imported"] is False
    assert report["probes"] == 9  # every 5 steps of 44, and at the start
    # The same seed unwatched ends at chance (0.1): its layers died.
    assert report["unwatched_val_accuracy"] < 0.2
    assert set(report["findings"]) & {"dead_relu", "no_gradient"}
    assert report["reductions"] >= 1
    assert report["val_accuracy"] > 0.6
    # Written by TensorBoard's own writer, read back by the package's reader.
    assert report["rows_read_back"] >= 1
    assert report["loss_points"] == report["probes"]
    assert report["relative_grad_layers"] == ["conv_0", "conv_1", "output"]


def test_data_parallel_on_two_jax_devices_probes_like_one_device():
    outcome = json.loads(_run("jax_data_parallel.py", "jax").splitlines()[-1])
    assert outcome["devices"] == 2  # the weights really are spread
    assert outcome["probes"] == [9, 9]
    assert outcome["worst_relative_difference"] < 1e-5
    assert outcome["same_findings"]


def test_a_backend_without_gradients_is_refused_at_construction():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import numpy as np, keras_trainwatch as ktw\n"
            "ktw.GradientWatch((np.zeros((4, 3)), np.zeros(4)))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "numpy"},
        timeout=300,
    )
    assert result.returncode == 1
    assert (
        "ValueError: GradientWatch computes gradients with the Keras backend, "
        "and backend 'numpy' has none it can use. Expected one of tensorflow, "
        "jax, torch (set KERAS_BACKEND)." in result.stderr
    )
