import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_trainwatch.probe import GradientProbe, ProbeBatch
from keras_trainwatch.probe.backends.tensorflow.gradient_pass import (
    GradientPass,
)
from keras_trainwatch.probe.build import build_probe


def regularized_model():
    inputs = keras.Input((64,))
    h = keras.layers.Dense(
        32,
        activation="relu",
        kernel_regularizer=keras.regularizers.L2(0.01),
        name="d1",
    )(inputs)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = keras.Model(inputs, outputs)
    model.compile(
        "adam", "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def state_of(model):
    variables = (
        model.variables + model.optimizer.variables + model.metrics_variables
    )
    return [np.array(v.numpy()) for v in variables]


def test_statistics_match_an_independent_gradient_tape(digits):
    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    model.fit(x, y, epochs=1, verbose=0)
    record = GradientProbe(model, ProbeBatch.from_data((x, y)))(epoch=1, step=2)

    # The same computation, eagerly: the dropout seed has not moved, so the
    # mask is the same as the probe's.
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        loss = model.compute_loss(x, y, y_pred)
    grads = tape.gradient(loss, model.trainable_variables)
    expected = {
        v.path: (np.linalg.norm(g), np.linalg.norm(v.numpy()))
        for v, g in zip(model.trainable_variables, grads)
    }
    assert record.loss == pytest.approx(float(loss), rel=1e-5)
    measured = {
        w.name: (w.grad_norm, w.weight_norm)
        for layer in record.layers
        for w in layer.weights
    }
    assert measured.keys() == expected.keys()
    for name, (grad_norm, weight_norm) in expected.items():
        assert measured[name][0] == pytest.approx(grad_norm, rel=1e-4), name
        assert measured[name][1] == pytest.approx(weight_norm, rel=1e-6), name
    assert (record.epoch, record.step) == (1, 2)
    assert [layer.name for layer in record.layers] == ["d1", "bn", "out"]


def test_loss_includes_regularization(digits):
    x, y = digits[0][:32], digits[1][:32]
    model = regularized_model()
    model.get_layer("drop").rate = 0.0
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    record = probe(0, 0)
    crossentropy = keras.losses.sparse_categorical_crossentropy(
        y, model(x, training=True)
    )
    l2 = 0.01 * np.sum(np.square(model.get_layer("d1").kernel.numpy()))
    assert l2 > 1e-3
    assert record.loss == pytest.approx(
        float(np.mean(crossentropy)) + l2, rel=1e-5
    )


def test_probe_changes_no_state_and_traces_once(digits):
    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    model.fit(x, y, epochs=1, verbose=0)
    before = state_of(model)
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    first = probe(0, 0)  # eager
    second = probe(0, 0)  # compiled
    for _ in range(3):
        again = probe(0, 0)
    after = state_of(model)
    assert len(before) == len(after)
    for b, a in zip(before, after):
        np.testing.assert_array_equal(b, a)
    # Same state, same dropout mask: the probe is repeatable, exactly when
    # compiled, and to float32 rounding between the eager first probe
    # (one-pass norms) and the compiled ones (overflow-safe norms).
    assert again == second
    for eager, compiled in zip(first.layers, again.layers):
        assert eager.grad_norm == pytest.approx(compiled.grad_norm, rel=1e-5)
        assert eager.weight_norm == pytest.approx(
            compiled.weight_norm, rel=1e-5
        )
    assert first.loss == again.loss
    assert probe.tracing_count == 1


def test_loss_scale_is_divided_out(digits):
    x, y = digits[0][:32], digits[1][:32]
    model = regularized_model()
    plain = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)
    model.compile(
        keras.optimizers.LossScaleOptimizer(
            keras.optimizers.Adam(), initial_scale=2.0**15
        ),
        "sparse_categorical_crossentropy",
    )
    scaled = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)
    for p, s in zip(plain.layers, scaled.layers):
        assert s.grad_norm == pytest.approx(p.grad_norm, rel=1e-5)


@pytest.mark.parametrize("loss_scaled", [False, True])
def test_optimizer_state_is_built_after_the_first_probe_unless_it_is_read(
    digits, monkeypatch, loss_scaled
):
    """The optimizer's state (Adam: two copies of the weights) is allocated
    after the eager first probe, so that it reuses the probe's freed memory;
    a LossScaleOptimizer is built first, since the probe reads its scale."""
    built_during_pass = []
    original = GradientPass.__call__

    def spy(self, *batch):
        built_during_pass.append(self.model.optimizer.built)
        return original(self, *batch)

    monkeypatch.setattr(GradientPass, "__call__", spy)
    model = regularized_model()
    adam = keras.optimizers.Adam()
    model.compile(
        keras.optimizers.LossScaleOptimizer(adam) if loss_scaled else adam,
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    build_probe(model, ProbeBatch.from_data((digits[0][:32], digits[1][:32])))
    assert built_during_pass == [loss_scaled]
    assert model.optimizer.built
    assert adam.built


def test_sparse_embedding_gradients_are_measured_on_touched_rows():
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            keras.layers.Embedding(1000, 8, name="emb"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile("adam", "mse")
    x = np.array([[1, 2, 3, 1, 1], [2, 2, 7, 7, 9]], "int32")
    y = np.array([[1.0], [-1.0]], "float32")
    record = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True))
    [grad] = tape.gradient(loss, [model.get_layer("emb").embeddings])
    dense_grad = tf.convert_to_tensor(grad).numpy()
    touched = model.get_layer("emb").embeddings.numpy()[[1, 2, 3, 7, 9]]
    emb = record.layer("emb").weights[0]
    assert emb.grad_norm == pytest.approx(np.linalg.norm(dense_grad), rel=1e-5)
    assert emb.weight_norm == pytest.approx(np.linalg.norm(touched), rel=1e-6)


class TwoLayer(keras.Model):
    def __init__(self):
        super().__init__()
        # Units 0..3 get a bias so negative that they never fire.
        bias = np.array([-100.0] * 4 + [0.0] * 4, "float32")
        self.hidden = keras.layers.Dense(
            8,
            activation="relu",
            bias_initializer=keras.initializers.Constant(bias),
            name="hidden",
        )
        self.head = keras.layers.Dense(3, activation="softmax", name="head")

    def call(self, x):
        return self.head(self.hidden(x))


def functional_two_layer():
    bias = np.array([-100.0] * 4 + [0.0] * 4, "float32")
    inputs = keras.Input((64,))
    h = keras.layers.Dense(
        8,
        activation="relu",
        bias_initializer=keras.initializers.Constant(bias),
        name="hidden",
    )(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))


def test_the_eager_pass_holds_no_layer_output_past_the_backward_pass(
    digits, monkeypatch
):
    """The outputs the probe reads (ReLU, sigmoid) are reduced before the
    backward pass, so that run eagerly (the first probe, before training)
    they are freed as the tape goes back through them and the backward pass
    can reuse their memory, instead of being held to the end."""
    from keras_trainwatch.probe import reductions

    inputs = keras.Input((64,))
    h = keras.layers.Dense(32, activation="relu", name="relu")(inputs)
    h = keras.layers.Dense(16, activation="sigmoid", name="sigmoid")(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    probe = GradientProbe(
        model, ProbeBatch.from_data((digits[0][:32], digits[1][:32]))
    )
    read_outputs = []
    for name in ("dead_units_from_output", "saturated_share"):
        original = getattr(reductions, name)

        def remembering(output, *args, original=original):
            read_outputs.append(weakref.ref(output))
            return original(output, *args)

        monkeypatch.setattr(reductions, name, remembering)
    alive_after_backward = []
    gradient = tf.GradientTape.gradient

    def backward(tape, *args, **kwargs):
        grads = gradient(tape, *args, **kwargs)
        alive_after_backward.extend(ref() is not None for ref in read_outputs)
        return grads

    monkeypatch.setattr(tf.GradientTape, "gradient", backward)
    result = probe._gradient_pass(*probe._batch)
    assert alive_after_backward == [False, False]
    assert [float(n) for n in result.dead_units] == [
        probe(0, 0).dead_units[0].dead_units
    ]


@pytest.mark.parametrize(
    "build, source",
    [(functional_two_layer, "activations"), (TwoLayer, "gradients")],
)
def test_dead_units_counted_from_outputs_or_from_gradients(
    digits, build, source
):
    x, y = digits[0][:64], digits[1][:64] % 3
    model = build()
    model.compile("adam", "sparse_categorical_crossentropy")
    model(x[:1])
    [dead] = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0).dead_units
    assert (dead.name, dead.dead_units, dead.units, dead.source) == (
        "hidden",
        4,
        8,
        source,
    )


def test_dead_channels_of_a_convolution(digit_images):
    x, y = digit_images[0][:32], digit_images[1][:32]
    bias = np.array([-100.0] * 3 + [0.0] * 5, "float32")
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(
                8,
                3,
                activation="relu",
                name="conv",
                bias_initializer=keras.initializers.Constant(bias),
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    [dead] = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0).dead_units
    assert (dead.dead_units, dead.units) == (3, 8)


def test_variables_without_gradient_are_left_out(trainwatch_log):
    inputs = keras.Input((4,))
    used = keras.layers.Dense(2, name="used")(inputs)
    unused = keras.layers.Dense(2, name="unused_head")(inputs)
    model = keras.Model(inputs, {"a": used, "b": unused})
    model.compile("sgd", loss={"a": "mse", "b": None})
    x = np.ones((4, 4), "float32")
    record = GradientProbe(
        model, ProbeBatch.from_data((x, {"a": np.zeros((4, 2))}))
    )(0, 0)
    assert [layer.name for layer in record.layers] == ["used"]
    assert "unused_head/kernel" in trainwatch_log.text


def sequence_model(go_backwards=False, steps=30, mask=False):
    inputs = keras.Input((steps, 2))
    h = keras.layers.Masking()(inputs) if mask else inputs
    h = keras.layers.Dense(4, name="project")(h)
    h = keras.layers.SimpleRNN(8, go_backwards=go_backwards, name="rnn")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    model.compile("adam", "mse")
    return model


@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradient_reaching_early_and_late_steps_of_a_recurrent_layer(
    go_backwards,
):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 30, 2)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = sequence_model(go_backwards)
    [stats] = GradientProbe(model, ProbeBatch.from_data((x, y)))(
        0, 0
    ).time_gradients

    with tf.GradientTape() as tape:
        projected = model.get_layer("project")(x)
        tape.watch(projected)
        prediction = model.get_layer("head")(model.get_layer("rnn")(projected))
        loss = model.compute_loss(x, y, prediction)
    per_step = np.sqrt(
        np.sum(np.square(tape.gradient(loss, projected).numpy()), axis=(0, 2))
    )
    if go_backwards:
        per_step = per_step[::-1]
    assert (stats.name, stats.steps, stats.gated) == ("rnn", 30, False)
    assert stats.early_grad == pytest.approx(per_step[:3].mean(), rel=1e-4)
    assert stats.late_grad == pytest.approx(per_step[-3:].mean(), rel=1e-4)


def test_masked_sequences_are_not_compared():
    x = np.random.default_rng(0).normal(size=(8, 30, 2)).astype("float32")
    x[:, :10] = 0.0  # padding
    record = GradientProbe(
        sequence_model(mask=True), ProbeBatch.from_data((x, np.zeros((8, 1))))
    )(0, 0)
    assert record.time_gradients[0].steps is None


def checked_probe(digits):
    """`(x, y, model, probe, eager_runs)`: a probe whose batch was checked
    (`validate()`), with a list that grows by one per eager probe run."""
    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    eager_runs = []
    eager = probe._eager
    probe._eager = lambda: eager_runs.append(1) or eager()
    probe.validate()
    return x, y, model, probe, eager_runs


def test_the_check_at_set_model_is_the_first_probe_while_weights_stay(digits):
    x, y, model, probe, eager_runs = checked_probe(digits)
    record = probe(0, 0)
    assert len(eager_runs) == 1 and probe.tracing_count == 0
    again = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)
    for kept, fresh in zip(record.layers, again.layers):
        assert kept.grad_norm == pytest.approx(fresh.grad_norm, rel=1e-5)


def test_weights_changed_after_the_check_are_probed_again(digits):
    x, y, model, probe, eager_runs = checked_probe(digits)
    checked = [v.numpy() for v in model.trainable_variables]
    # A training step updates the variables in place; the values held by
    # the check must stay those it measured, or the change would go unseen.
    model.train_on_batch(x, y)
    kept = [w.numpy() for w in probe._early.weights]
    for before, held in zip(checked, kept):
        np.testing.assert_array_equal(before, held)
    record = probe(0, 1)
    assert len(eager_runs) == 2 and probe.tracing_count == 0
    d1 = next(layer for layer in record.layers if layer.name == "d1")
    now = [w.astype("float64") for w in model.get_layer("d1").get_weights()]
    assert d1.weight_norm == pytest.approx(
        np.sqrt(sum(np.sum(w**2) for w in now)), rel=1e-5
    )


def test_the_eager_probe_keeps_tensorflows_retracing_warnings_to_itself(
    caplog,
):
    # Keras runs each grouped convolution through a new XLA-compiled
    # tf.function per eager call; six of them make TensorFlow warn.
    model = keras.Sequential(
        [keras.Input((8, 8, 4))]
        + [
            keras.layers.Conv2D(4, 3, padding="same", groups=2)
            for _ in range(6)
        ]
        + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 4)).astype("float32")
    probe = GradientProbe(model, ProbeBatch.from_data((x, np.arange(8) % 3)))
    with caplog.at_level("WARNING", logger="tensorflow"):
        probe.validate()
        record = probe(0, 0)
    assert record.all_finite
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_only_this_threads_retracing_warnings_are_dropped(caplog):
    import threading

    from keras_trainwatch.probe.backends.tensorflow.probe import (
        _quiet_eager_retracing,
    )

    message = "6 out of the last 6 calls to f triggered tf.function retracing"
    with caplog.at_level("WARNING", logger="tensorflow"):
        with _quiet_eager_retracing():
            tf.get_logger().warning(message)
            tf.get_logger().warning("another warning")
            other = threading.Thread(
                target=lambda: tf.get_logger().warning(message)
            )
            other.start()
            other.join()
        tf.get_logger().warning(message)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["another warning", message, message]


def test_the_first_probe_runs_eagerly_and_the_second_traces(digits):
    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))
    probe.validate()  # the first probe, eager: no trace
    first = probe(0, 0)
    assert probe.tracing_count == 0
    second = probe(0, 0)
    assert probe.tracing_count == 1
    probe(0, 0)
    assert probe.tracing_count == 1
    # Same weights, same dropout mask: eager and compiled agree.
    for eager, compiled in zip(first.layers, second.layers):
        assert eager.grad_norm == pytest.approx(compiled.grad_norm, rel=1e-5)
    assert first.loss == pytest.approx(second.loss, rel=1e-6)


def test_grappler_is_off_only_inside_and_only_on_this_thread():
    import threading

    from keras_trainwatch.probe.backends.tensorflow import (
        graph_options as _tf_compat,
    )

    assert not _tf_compat.grappler_disabled()
    elsewhere = []
    with _tf_compat.graph_optimization_off():
        assert _tf_compat.grappler_disabled()
        thread = threading.Thread(
            target=lambda: elsewhere.append(_tf_compat.grappler_disabled())
        )
        thread.start()
        thread.join()
    assert elsewhere == [False]
    assert not _tf_compat.grappler_disabled()


def test_an_eager_first_probe_out_of_memory_falls_back_to_the_compiled_one(
    digits,
):
    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    probe = GradientProbe(model, ProbeBatch.from_data((x, y)))

    def out_of_memory(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM (eager)")

    probe._eager = out_of_memory
    record = probe(0, 0)
    assert probe.tracing_count == 1 and record.layers


def test_eager_norms_take_one_pass_where_safe_and_agree_with_compiled_ones():
    from keras_trainwatch.probe import reductions

    rng = np.random.default_rng(0)
    values = [
        rng.normal(size=1000),  # one pass
        np.zeros(7),  # zero: the safe norm
        np.full(5, 1e-25),  # squares flushed to zero: the safe norm
        np.full(5, 1e30),  # squares overflow: the safe norm
        np.array([np.nan, 1.0, 2.0]),
        np.array([np.inf, -np.inf, 1.0]),
    ]
    tensors = [tf.constant(v, tf.float32) for v in values]
    eager = reductions.norms_and_nonfinite_counts(tensors)
    compiled = tf.function(
        lambda *t: reductions.norms_and_nonfinite_counts(list(t))
    )(*tensors)
    expected_norms = [
        np.linalg.norm(v.astype("float32").astype("float64")) for v in values
    ]
    for norms, counts in (eager, compiled):
        norms = [float(n) for n in norms]
        assert norms[:4] == pytest.approx(expected_norms[:4], rel=1e-5)
        assert all(np.isnan(n) for n in norms[4:])
        assert [float(c) for c in counts] == [0, 0, 0, 0, 1, 2]
    assert [float(n) for n in reductions.l2_norms(tensors[:4])] == (
        pytest.approx(expected_norms[:4], rel=1e-5)
    )


def test_off_the_cpu_the_eager_probe_reads_to_the_host_only_at_its_end(
    digits, monkeypatch
):
    """On a GPU, reading the one-pass norms would make the host wait for the
    device mid-probe: there the eager norms are the compiled ones, and the
    probe's final read is its only one."""
    from keras_trainwatch.probe import reductions

    x, y = digits[0][:64], digits[1][:64]
    model = regularized_model()
    on_cpu = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)

    def no_read(value):
        raise AssertionError("read to the host before the probe's end")

    monkeypatch.setattr(reductions, "read_without_waiting", lambda t: False)
    monkeypatch.setattr(reductions, "to_numpy", no_read)
    off_cpu = GradientProbe(model, ProbeBatch.from_data((x, y)))(0, 0)
    for cpu, device in zip(on_cpu.layers, off_cpu.layers):
        assert device.grad_norm == pytest.approx(cpu.grad_norm, rel=1e-5)
        assert device.weight_norm == pytest.approx(cpu.weight_norm, rel=1e-5)


def test_only_synchronous_cpu_tensors_are_read_without_waiting():
    from keras_trainwatch.probe import reductions

    class OnGpu:
        device = "/job:localhost/replica:0/task:0/device:GPU:0"

    on_cpu = tf.zeros([3])
    assert reductions.read_without_waiting([on_cpu])
    assert not reductions.read_without_waiting([on_cpu, OnGpu()])
    tf.config.experimental.set_synchronous_execution(False)
    try:
        assert not reductions.read_without_waiting([on_cpu])
    finally:
        tf.config.experimental.set_synchronous_execution(True)


def test_small_tensors_are_reduced_stacked_with_the_same_results_in_order():
    from keras_trainwatch.probe import reductions

    rng = np.random.default_rng(1)
    big = reductions.STACKED_SIZE + 5
    # Shapes interleaved, so that stacking by shape reorders the results.
    values = [
        rng.normal(size=(3, 4)),
        rng.normal(size=big) * 1e25,
        np.float32(-2.5),
        rng.normal(size=(3, 4)) * 1e30,
        np.zeros((3, 4)),
        rng.normal(size=7),
        np.array([1.0, np.inf, np.nan, 2.0, 3.0, 4.0, 5.0]),
        np.float32(0.0),
        rng.normal(size=big),
    ]
    tensors = [tf.constant(v, tf.float32) for v in values]
    finite = [np.all(np.isfinite(v)) for v in values]
    expected = [
        np.linalg.norm(np.float32(v).astype("float64").ravel()) for v in values
    ]
    eager = reductions.norms_and_nonfinite_counts(tensors)
    compiled = tf.function(
        lambda *t: reductions.norms_and_nonfinite_counts(list(t)),
        autograph=False,
    )(*tensors)
    for norms, counts in (eager, compiled):
        norms = np.array([float(n) for n in norms])
        np.testing.assert_allclose(
            norms[finite], np.array(expected)[finite], rtol=1e-5
        )
        assert np.isnan(norms[6])
        assert [float(c) for c in counts] == [0, 0, 0, 0, 0, 0, 2, 0, 0]


def test_a_probe_graph_grows_with_distinct_shapes_not_with_tensors():
    from keras_trainwatch.probe import reductions

    def operations(tensors):
        graph = (
            tf.function(
                lambda *t: reductions.norms_and_nonfinite_counts(list(t)),
                autograph=False,
            )
            .get_concrete_function(*tensors)
            .graph
        )
        return len(graph.get_operations())

    same_shape = [tf.zeros([16, 8]) for _ in range(40)]
    distinct = [tf.zeros([16, 8 + i]) for i in range(10)]
    assert operations(same_shape) < operations(distinct)


def test_unit_spreads_stacked_by_shape_match_the_definition():
    from keras_trainwatch.probe import reductions

    rng = np.random.default_rng(2)
    pairs = [
        (np.ones((3, 3, 2, 4)), None),  # identical units
        (rng.normal(size=(5, 4)), np.zeros(4)),
        (np.ones((3, 3, 2, 4)), np.array([1.0, 1.0, 1.0, 2.0])),
        (np.zeros((5, 4)), np.zeros(4)),  # all zero
        (rng.normal(size=(100, 6)), None),  # sampled rows
        (np.array([[np.nan, 1.0], [1.0, 1.0]]), None),
    ]

    def definition(kernel, bias):
        rows = kernel.reshape(-1, kernel.shape[-1])
        if len(rows) > reductions.SPREAD_ROWS:
            rows = rows[:: -(-len(rows) // reductions.SPREAD_ROWS)]
        if bias is not None:
            rows = np.vstack([rows, bias[None]])
        if not np.all(np.isfinite(rows)):
            return np.nan
        largest = np.abs(rows).max()
        spread = (rows.max(axis=1) - rows.min(axis=1)).max()
        return spread / largest if largest > 0 else 0.0

    spreads = reductions.unit_spreads(
        [
            (
                tf.constant(k, tf.float32),
                None if b is None else tf.constant(b, tf.float32),
            )
            for k, b in pairs
        ]
    ).numpy()
    np.testing.assert_allclose(
        spreads, [definition(k, b) for k, b in pairs], rtol=1e-6
    )
    assert spreads[0] == 0 and spreads[2] == 0.5 and np.isnan(spreads[5])
