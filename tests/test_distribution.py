"""GradientWatch and AutoLRReducer under tf.distribute.MirroredStrategy on two
logical CPU devices (set up in conftest)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import mlp

import keras_trainwatch as ktw


@pytest.fixture(scope="session")
def strategy():
    # One strategy for the whole session: strategies created later in the same
    # process reuse collective instance keys that TensorFlow has cached.
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def build(strategy, **kwargs):
    with strategy.scope():
        model = mlp(**kwargs)
        model.compile(
            keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy"
        )
    return model


def test_probe_statistics_match_the_single_device_run(strategy, digits):
    x, y = digits[0][:256], digits[1][:256]
    single = build(tf.distribute.get_strategy(), depth=3, bias={1: -3.0})
    mirrored = build(strategy, depth=3, bias={1: -3.0})
    mirrored.set_weights(single.get_weights())
    probe = (x, y)
    single_record = ktw.GradientProbe(single, ktw.ProbeBatch.from_data(probe))(
        0, 0
    )
    mirrored_probe = ktw.GradientProbe(
        mirrored, ktw.ProbeBatch.from_data(probe)
    )
    assert mirrored_probe.replicas == 2
    record = mirrored_probe(0, 0)
    assert record.loss == pytest.approx(single_record.loss, rel=1e-5)
    for a, b in zip(record.layers, single_record.layers):
        assert a.name == b.name
        assert a.grad_norm == pytest.approx(b.grad_norm, rel=1e-4)
        assert a.weight_norm == pytest.approx(b.weight_norm, rel=1e-6)
    assert [(d.name, d.dead_units) for d in record.dead_units] == [
        (d.name, d.dead_units) for d in single_record.dead_units
    ]


def watched_fit(strategy, digits, **model_kwargs):
    x, y = digits
    keras.utils.set_random_seed(0)
    model = build(strategy, **model_kwargs)
    watch = ktw.GradientWatch(
        (x[:256], y[:256]), every_n_steps=5, on_finding=lambda f: None
    )
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch, factor=0.5)
    model.fit(
        x[:640],
        y[:640],
        epochs=2,
        batch_size=64,
        verbose=0,
        callbacks=[watch, reducer],
    )
    return model, watch, reducer


@pytest.mark.parametrize(
    "model_kwargs",
    [
        {"depth": 3, "bias": {1: -20.0}},
        {"depth": 8, "activation": "sigmoid", "initializer": "glorot_uniform"},
    ],
    ids=["dead_relu", "vanishing"],
)
def test_findings_and_reductions_match_the_single_device_run(
    strategy, digits, model_kwargs
):
    _, single_watch, single_reducer = watched_fit(
        tf.distribute.get_strategy(), digits, **model_kwargs
    )
    model, watch, reducer = watched_fit(strategy, digits, **model_kwargs)
    assert watch.probe.replicas == 2
    assert watch.findings and [
        (f.kind, f.layer, f.step) for f in watch.findings
    ] == [(f.kind, f.layer, f.step) for f in single_watch.findings]
    assert [(r.step, r.new_lr) for r in reducer.reductions] == [
        (r.step, r.new_lr) for r in single_reducer.reductions
    ]
    rate = keras.ops.convert_to_numpy(model.optimizer.learning_rate)
    assert rate == pytest.approx(0.1 * 0.5 ** len(reducer.reductions))


def test_rollback_restores_mirrored_variables(strategy, regression_data):
    x, y = regression_data
    with strategy.scope():
        model = mlp(input_dim=16, depth=3, outputs=1, output_activation=None)
        model.compile(keras.optimizers.SGD(0.35), "mse")
    reducer = ktw.AutoLRReducer(monitor=None, rollback=True, factor=0.5)
    history = model.fit(
        x, y, epochs=3, batch_size=32, verbose=0, callbacks=[reducer]
    )
    assert reducer.rollbacks >= 1
    assert np.isfinite(history.history["loss"][-1])
    for variable in model.trainable_variables:
        replicas = strategy.experimental_local_results(variable.value)
        np.testing.assert_array_equal(replicas[0], replicas[1])


def test_multi_worker_mirrored_strategy_workers_agree_and_only_the_chief_writes(
    tmp_path,
):
    import json
    import os
    import subprocess
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
    from tensorboard_server import free_port

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    script = os.path.join(
        os.path.dirname(__file__), "scripts", "multi_worker_run.py"
    )
    log_dir = tmp_path / "logs"
    workers = []
    for index in range(2):
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(sys.path),
            TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        )
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    script,
                    str(log_dir),
                    str(tmp_path / f"worker_{index}.json"),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for worker in workers:
            _, stderr = worker.communicate(timeout=300)
            assert worker.returncode == 0, stderr[-3000:]
    finally:
        for worker in workers:
            worker.kill()
    chief, other = (
        json.loads((tmp_path / f"worker_{i}.json").read_text())
        for i in range(2)
    )
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["findings"] == other["findings"] and chief["findings"]
    assert ["dead_relu", "hidden_1", 0] in chief["findings"]
    assert chief["reductions"] == other["reductions"] and chief["reductions"]
    assert chief["grad_norms"] == pytest.approx(other["grad_norms"], rel=1e-6)
    assert (chief["chief"], other["chief"]) == (True, False)
    event_files = list((log_dir / "gradient_watch").glob("*tfevents*"))
    assert len(event_files) == 1
