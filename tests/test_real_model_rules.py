"""Models nobody here wrote, in miniature: the shapes that made the watch
cry wolf or miss on real architectures (issue 11), each pinned with a
measurement that shows the trap is really there."""

import keras
import numpy as np
import pytest
from helpers import assert_watched_silently
from keras import layers as L

import keras_trainwatch as ktw


class LayerScale(keras.layers.Layer):
    """ConvNeXt's LayerScale: a trainable per-channel scale, 1e-6 at init."""

    def build(self, input_shape):
        self.gamma = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(1e-6),
        )

    def call(self, x):
        return x * self.gamma


def residual_net(branch_end):
    """A stem, then four residual blocks whose branch ends in `branch_end()`."""
    inputs = keras.Input((64,))
    x = L.Dense(32, activation="relu", name="stem")(inputs)
    for i in range(4):
        branch = L.Dense(64, activation="gelu", name=f"block{i}_up")(x)
        branch = L.Dense(32, name=f"block{i}_down")(branch)
        x = L.add([x, branch_end(i)(branch)])
    outputs = L.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def probe_findings(model, data, epochs=0):
    watch = ktw.GradientWatch(data, on_finding=lambda f: None)
    if epochs:
        model.fit(*data, epochs=epochs, verbose=0, callbacks=[watch])
    else:
        watch.set_model(model)
        watch.on_train_begin()
        watch.on_epoch_begin(0)
    return watch


def test_layerscale_branches_are_not_vanishing(digits):
    keras.utils.set_random_seed(0)
    model = residual_net(lambda i: LayerScale(name=f"block{i}_scale"))
    watch = probe_findings(model, (digits[0][:128], digits[1][:128]))
    record = watch.last_record
    # The trap is there: the branch weights get ~1e-6 of the head's |g|/|w|.
    branch = record.layer("block0_up").relative_grad
    head = record.layer("head").relative_grad
    assert branch < 1e-4 and branch / head < 1e-3
    assert record.layer("stem").relative_grad / head > 1e-2
    assert_watched_silently(watch)


def test_zero_initialized_residual_branches_are_not_vanishing(digits):
    keras.utils.set_random_seed(0)
    model = residual_net(
        lambda i: L.BatchNormalization(gamma_initializer="zeros", name=f"bn{i}")
    )
    watch = probe_findings(model, (digits[0][:128], digits[1][:128]))
    assert watch.last_record.layer("block0_up").grad_norm == 0.0
    assert_watched_silently(watch)


def test_weight_decay_does_not_hide_a_deep_sigmoid_stack(digits):
    keras.utils.set_random_seed(0)
    reg = keras.regularizers.L2(1e-2)
    inputs = keras.Input((64,))
    x = inputs
    for i in range(8):
        x = L.Dense(
            84, activation="sigmoid", kernel_regularizer=reg, name=f"d{i}"
        )(x)
    model = keras.Model(
        inputs, L.Dense(10, activation="softmax", name="out")(x)
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    watch = probe_findings(model, (digits[0][:128], digits[1][:128]))
    first = watch.last_record.layer("d0")
    # The total gradient's |g|/|w| is about 2 * 1e-2 (the regularizer), above
    # the limit; the data loss's is far below it.
    assert first.relative_grad > 1e-4 > first.data_relative_grad
    vanishing = [f for f in watch.findings if f.kind == "vanishing_gradients"]
    assert vanishing and vanishing[0].layer == "d0"
    assert "ReLU" in vanishing[0].remedy


def test_a_memorized_probe_batch_raises_no_vanishing(digits):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    x = inputs
    for i in range(4):
        x = L.Dense(64, use_bias=False, name=f"d{i}")(x)
        x = L.Activation("relu")(L.BatchNormalization(name=f"bn{i}")(x))
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(x))
    model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy"
    )
    data = (digits[0][:32], digits[1][:32])
    watch = probe_findings(model, data, epochs=40)
    assert watch.last_record.loss < 0.05, "the probe batch is memorized"
    assert [f for f in watch.findings if f.kind == "vanishing_gradients"] == []


def test_the_probe_knows_the_input_scale_and_which_layers_read_the_inputs():
    # The exploding rule divides these layers' |g| by the input scale (the
    # rule itself is pinned in test_detectors.py; the real ResNet50 stem on
    # caffe-style inputs is a row of benchmarks/real_models.py).
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (32, 16, 16, 3)).astype("float32") - 120.0
    y = rng.integers(0, 10, 32)
    inputs = keras.Input((16, 16, 3))
    h = L.Conv2D(16, 7, strides=2, padding="same", name="conv1_conv")(inputs)
    h = L.Activation("relu")(L.BatchNormalization()(h))
    h = L.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    watch = probe_findings(model, (x, y))
    record = watch.last_record
    assert record.input_scale > 50
    assert record.input_scale == pytest.approx(
        float(np.sqrt(np.mean(x.astype("float64") ** 2)))
    )
    assert record.layer("conv1_conv").reads_input
    assert not any(
        layer.reads_input
        for layer in record.layers
        if layer.name != "conv1_conv"
    )


def test_a_transient_episode_is_reported_resolved(digits, trainwatch_log):
    # Five Dense(5, tanh) layers under Adagrad at a rate of 1: the first
    # huge steps saturate a layer for a while, then it recovers.
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input((64,))]
        + [L.Dense(5, activation="tanh") for _ in range(5)]
        + [L.Dense(10, activation="softmax")]
    )
    model.compile(
        keras.optimizers.Adagrad(1.0), "sparse_categorical_crossentropy"
    )
    watch = ktw.GradientWatch((digits[0][:256], digits[1][:256]))
    history = model.fit(
        *digits, epochs=15, batch_size=32, verbose=0, callbacks=[watch]
    )
    [episode] = [f for f in watch.findings if f.kind == "vanishing_gradients"]
    assert (
        episode.resolved_step is not None
        and episode.resolved_step > episode.step
    )
    assert not episode.active and episode.episodes == 1
    resolved = [
        r.getMessage()
        for r in trainwatch_log.records
        if "Resolved:" in r.getMessage()
    ]
    assert any(
        f"vanishing gradients in layer '{episode.layer}' (found at step "
        f"{episode.step}" in line
        for line in resolved
    )
    assert history.history["gradient_watch/active_findings"][-1] < len(
        watch.findings
    )
