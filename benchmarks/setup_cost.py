"""Where the watch's one-time setup goes, next to Keras's own first
training step, on real architectures (issue 15's starting point).

For each model (keras.applications, weights=None, 64x64, a probe batch of
32): building what fit would build, the model layout, the probe object, the
trace of its tf.function, its first call (TensorFlow's graph optimization
happens here), a second call; then Keras's first and second
`train_on_batch` on the same 32 samples. One process, one model after the
other, so the ratios compare like with like.

    .venv/bin/python benchmarks/setup_cost.py [MODEL ...]
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_trainwatch import _keras_compat  # noqa: E402
from keras_trainwatch.probe.batch import ProbeBatch  # noqa: E402
from keras_trainwatch.probe.layout import ModelLayout  # noqa: E402
from keras_trainwatch.probe.probe import GradientProbe  # noqa: E402


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(names):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 64, 64, 3)).astype("float32")
    y = rng.integers(0, 10, 32)
    print(
        f"{'model':14} {'build':>6} {'trace':>6} {'1st call':>8} {'2nd call':>8} "
        f"{'setup':>6} {'keras 1st step':>14} {'setup/step':>10} {'probe/step':>10}"
    )
    for name in names:
        model = getattr(keras.applications, name)(
            weights=None, input_shape=(64, 64, 3), classes=10
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        batch = ProbeBatch.from_data((x, y))
        build = timed(
            lambda: _keras_compat.build_like_fit(
                model, (batch.x, batch.y, None)
            )
        )
        holder = {}
        build += timed(lambda: ModelLayout.of(model))
        build += timed(
            lambda: holder.setdefault("probe", GradientProbe(model, batch))
        )
        probe = holder["probe"]
        trace = timed(probe.trace)
        first = timed(lambda: probe(0, 0))
        second = timed(lambda: probe(0, 1))
        keras_first = timed(lambda: model.train_on_batch(x, y))
        keras_second = timed(lambda: model.train_on_batch(x, y))
        setup = build + trace + first
        print(
            f"{name:14} {build:6.2f} {trace:6.2f} {first:8.2f} {second:8.2f} "
            f"{setup:6.2f} {keras_first:14.2f} {setup / keras_first:10.2f} "
            f"{second / keras_second:10.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["MobileNetV2", "ResNet50V2", "DenseNet121"])
