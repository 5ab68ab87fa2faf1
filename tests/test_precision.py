"""Mixed precision and XLA: gradients are unscaled before statistics are
taken, float16 underflow and loss-scale overflow do not read as findings."""

import keras
import numpy as np
import pytest
from helpers import assert_watched_silently, mlp

import keras_trainwatch as ktw


@pytest.fixture
def policy():
    """Sets a global dtype policy for the test, and restores float32."""

    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")


def probed(digits, optimizer, loss_weight=1.0):
    keras.utils.set_random_seed(0)
    model = mlp(depth=4)
    keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer, "sparse_categorical_crossentropy", loss_weights=loss_weight
    )
    watch = ktw.GradientWatch(
        (digits[0][:256], digits[1][:256]),
        probe_samples=None,
        on_finding=lambda f: None,
    )
    watch.set_model(model)
    watch.on_train_begin()
    watch.on_epoch_begin(0)
    return model, watch


def norms(watch):
    return [layer.grad_norm for layer in watch.records[0].layers]


def test_loss_scale_keeps_float16_underflow_from_reading_as_vanishing(
    digits, policy
):
    _, reference = probed(digits, keras.optimizers.SGD(0.1), loss_weight=1e-6)
    policy("mixed_float16")
    model, scaled = probed(digits, keras.optimizers.SGD(0.1), loss_weight=1e-6)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert norms(scaled) == pytest.approx(norms(reference), rel=2e-3)
    assert_watched_silently(scaled)
    # Without the scale, float16 gradients of this size underflow to zero.
    policy("mixed_float16")
    unscaled_optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1), initial_scale=1.0
    )
    _, unscaled = probed(digits, unscaled_optimizer, loss_weight=1e-6)
    assert max(norms(unscaled)) == 0.0


def test_a_loss_scale_that_overflows_does_not_read_as_exploding(digits, policy):
    _, reference = probed(digits, keras.optimizers.SGD(0.1))
    policy("mixed_float16")
    too_high = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1), initial_scale=2.0**40
    )
    _, watch = probed(digits, too_high)
    assert norms(watch) == pytest.approx(norms(reference), rel=2e-3)
    assert all(layer.nonfinite == 0 for layer in watch.records[0].layers)
    assert_watched_silently(watch)


def test_mixed_bfloat16_healthy_training_has_no_finding(digits, policy):
    policy("mixed_bfloat16")
    model = mlp(depth=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch(
        (digits[0][:256], digits[1][:256]), probe_samples=None
    )
    history = model.fit(
        *digits, epochs=2, batch_size=64, verbose=0, callbacks=[watch]
    )
    assert_watched_silently(watch)
    assert np.isfinite(history.history["loss"][-1])
    assert watch.records[-1].grad_norm > 0


def test_mixed_float16_pathology_is_still_caught(digits, policy):
    policy("mixed_float16")
    model = mlp(depth=3, bias={1: -20.0})
    model.compile("adam", "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch(
        (digits[0][:256], digits[1][:256]),
        probe_samples=None,
        on_finding=lambda f: None,
    )
    model.fit(*digits, epochs=1, batch_size=64, verbose=0, callbacks=[watch])
    assert ("dead_relu", "hidden_1") in [
        (f.kind, f.layer) for f in watch.findings
    ]


def test_jit_compiled_model_with_steps_per_execution(digits):
    model = mlp(depth=3, bias={1: -20.0})
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        jit_compile=True,
        steps_per_execution=4,
    )
    watch = ktw.GradientWatch(
        (digits[0][:256], digits[1][:256]),
        probe_samples=None,
        every_n_steps=6,
        on_finding=lambda f: None,
    )
    model.fit(
        digits[0][:640],
        digits[1][:640],
        epochs=1,
        batch_size=64,
        verbose=0,
        callbacks=[watch],
    )
    # Executions end after steps 4, 8 and 10: the first at or after 6.
    assert [r.step for r in watch.records] == [0, 8]
    assert ("dead_relu", "hidden_1") in [
        (f.kind, f.layer) for f in watch.findings
    ]
    assert watch.probe.tracing_count == 1
