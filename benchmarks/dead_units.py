"""Dead ReLU units counted from the layers' outputs: the benchmarks'
independent measurement of the dead-ReLU label (on every backend)."""

from __future__ import annotations

import keras
import numpy as np


def dead_fraction(model, x):
    """The largest share of units of a ReLU-activated layer that output 0 for
    every sample (and, in a convolution, every position), from the layers'
    outputs in training mode (batch statistics, as the probe and training
    see them), with batch-norm statistics and seeds put back afterwards."""
    relus = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.ReLU)
        or getattr(getattr(layer, "activation", None), "__name__", "") == "relu"
    ]
    if not relus:
        return 0.0
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in relus])
    state = [
        keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables
    ]
    try:
        outputs = probe(x, training=True)
    finally:
        for variable, saved in zip(model.non_trainable_variables, state):
            variable.assign(saved)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    worst = 0.0
    for out in outputs:
        out = keras.ops.convert_to_numpy(out)
        alive = np.any(out.reshape(-1, out.shape[-1]) != 0, axis=0)
        worst = max(worst, 1.0 - alive.mean())
    return worst
