"""What watching costs up front and per probe, next to Keras's own training
steps, on real architectures (issue 15).

For each keras.applications family of the real-model benchmark
(weights=None, 64x64 inputs or the family's minimum, a probe batch of 32 and
training batches of 32, the issue's setting): the watch's
setup as `fit` pays it before the first training step (build what fit would
build, the layout, the construction checks and the probe batch's check, then
the first probe, eager), the second probe (which traces the compiled
function, once training is under way), a later probe; then Keras's first and
a later `train_on_batch` on the same samples. One process, one model after
the other, so the ratios compare like with like. Then the fixed setup of
watching the small MLP of `overhead.py` against a 10-second fit.

Printed per model: seconds for each part, `setup/step` = setup over Keras's
first step (trace and graph optimization included) and `probe/step` = a
later probe over a later training step, both on 32 samples, so also per
sample.

On a machine with a GPU the same command measures the GPU: both the probe
and Keras's step run on TensorFlow's default device.

    .venv/bin/python benchmarks/setup_cost.py [MODEL ...]
    .venv/bin/python benchmarks/setup_cost.py --breakdown [MODEL ...]

With `--breakdown`: where a later probe's time goes, the compiled probe
against its own gradient pass alone (the same stateless forward and
backward, compiled the same way, without the reductions to statistics) and
against a Keras training step, best of 7 calls each.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_trainwatch as ktw  # noqa: E402
from keras_trainwatch import _tf_compat  # noqa: E402
from keras_trainwatch.probe.statistics import read  # noqa: E402

# The five first, then the rest of the real-model benchmark's
# keras.applications families, with the input size it uses (64, or the
# family's minimum).
MODELS = {
    "MobileNetV2": 64,
    "ResNet50V2": 64,
    "EfficientNetB0": 64,
    "ConvNeXtTiny": 64,
    "DenseNet121": 64,
    "EfficientNetV2B0": 64,
    "InceptionV3": 75,
    "InceptionResNetV2": 75,
    "MobileNet": 64,
    "MobileNetV3Small": 64,
    "NASNetMobile": 64,
    "ResNet50": 64,
    "VGG16": 64,
    "Xception": 71,
}


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def setup_and_probes(model, x, y):
    """`(setup, second probe, later probe)` seconds, through the watch."""
    watch = ktw.GradientWatch((x, y), loss_spike_z=None)
    setup = timed(lambda: watch.set_model(model))
    setup += timed(lambda: watch._run_probe())
    second = timed(lambda: watch._run_probe())
    later = min(timed(lambda: watch._run_probe()) for _ in range(3))
    assert watch.probe.tracing_count == 1
    return setup, second, later


def compiled_application(name, size):
    """`(model, x, y)`: a compiled keras.applications model from scratch and
    32 random samples for it."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, size, size, 3)).astype("float32")
    y = rng.integers(0, 10, 32)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=10
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model, x, y


def real_model(name, size):
    model, x, y = compiled_application(name, size)
    setup, second, later = setup_and_probes(model, x, y)
    keras_first = timed(lambda: model.train_on_batch(x, y))
    keras_later = min(
        timed(lambda: model.train_on_batch(x, y)) for _ in range(3)
    )
    print(
        f"| {name} | {setup:.2f} | {second:.2f} | {later:.3f} | "
        f"{keras_first:.2f} | {keras_later:.3f} | {setup / keras_first:.2f} | "
        f"{later / keras_later:.2f} |",
        flush=True,
    )


def breakdown(name, size):
    model, x, y = compiled_application(name, size)
    watch = ktw.GradientWatch((x, y), loss_spike_z=None)
    watch.set_model(model)
    probe = watch.probe
    probe(0, 0)
    probe(0, 1)

    def forward_and_backward(*batch):
        result = probe._gradient_pass(*batch)
        # The gradients are outputs, so that nothing is pruned away.
        return result.loss, [g for g in result.gradients if g is not None]

    gradient_pass = tf.function(forward_and_backward, autograph=False)
    gradient_pass.get_concrete_function(*probe._batch)

    def best(function):
        return min(timed(function) for _ in range(7))

    with _tf_compat.graph_optimization_off():
        whole = best(lambda: read(probe._function(*probe._batch)))
        alone = best(lambda: gradient_pass(*probe._batch)[0].numpy())
    step = best(lambda: model.train_on_batch(x, y))
    print(
        f"| {name} | {whole:.3f} | {alone:.3f} | {step:.3f} | "
        f"{whole / alone:.2f} | {alone / step:.2f} |",
        flush=True,
    )


def small_mlp():
    """The watch's fixed setup on overhead.py's MLP, against a 10-s fit."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 784)).astype("float32")
    y = rng.integers(0, 10, 256)
    model = keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    setup, second, later = setup_and_probes(model, x, y)
    print(
        f"\nsmall MLP (784-256-256-10, probe of 256): setup {setup * 1e3:.0f} "
        f"ms = {setup / 10:.2%} of a 10-second fit; second probe (trace) "
        f"{second * 1e3:.0f} ms, later probes {later * 1e3:.1f} ms"
    )


def main(names):
    keras.utils.set_random_seed(0)
    if names and names[0] == "--breakdown":
        print(
            "| model | probe (s) | its gradient pass alone (s) | Keras step (s) "
            "| probe/pass | pass/step |\n|---|---|---|---|---|---|"
        )
        for name in names[1:] or list(MODELS):
            breakdown(name, MODELS.get(name, 64))
        return
    print(
        "| model | watch setup (s) | 2nd probe, traced (s) | later probe (s) "
        "| Keras 1st step (s) | Keras later step (s) | setup/step "
        "| probe/step |\n|---|---|---|---|---|---|---|---|"
    )
    for name in names:
        real_model(name, MODELS.get(name, 64))
    small_mlp()


if __name__ == "__main__":
    main(sys.argv[1:] or list(MODELS))
