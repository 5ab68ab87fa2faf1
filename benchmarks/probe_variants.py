"""Why the probe is built the way it is: the same probe on one model, run
three ways in a fresh process each (pass the variant and the model):

- `base`: compiled, with TensorFlow's graph optimizer (Grappler);
- `nograppler`: compiled, with Grappler off for the probe's calls;
- `eager`: not compiled at all.

Printed: the trace, the first call and the best later call, next to Keras's
first and later `train_on_batch` on the same 32 samples (64x64,
keras.applications with weights=None).

    for v in base nograppler eager; do
      .venv/bin/python benchmarks/probe_variants.py $v MobileNetV2
    done
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np

from keras_trainwatch import _keras_compat
from keras_trainwatch.probe.backends.tensorflow import (
    graph_options as _tf_compat,
)
from keras_trainwatch.probe.backends.tensorflow.probe import GradientProbe
from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.statistics import read


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main(variant, name):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 64, 64, 3)).astype("float32")
    y = rng.integers(0, 10, 32)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(64, 64, 3), classes=10
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    batch = ProbeBatch.from_data((x, y))
    _keras_compat.build_like_fit(model, (batch.x, batch.y, None))
    probe = GradientProbe(model, batch)
    if variant == "eager":
        trace = 0.0

        def call():
            return read(probe._statistics(*probe._batch))
    else:
        trace = timed(probe.trace)

        def call():
            if variant == "nograppler":
                with _tf_compat.graph_optimization_off():
                    return read(probe._function(*probe._batch))
            return read(probe._function(*probe._batch))

    first = timed(call)
    later = min(timed(call) for _ in range(3))
    keras_first = timed(lambda: model.train_on_batch(x, y))
    keras_later = min(
        timed(lambda: model.train_on_batch(x, y)) for _ in range(3)
    )
    print(
        f"{name} {variant}: trace {trace:.2f} first {first:.2f} later "
        f"{later:.3f} | keras first {keras_first:.2f} later {keras_later:.3f} "
        f"| setup/keras {(trace + first) / keras_first:.2f} probe/step "
        f"{later / keras_later:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
