"""Probes one model with fixed weights on one fixed batch, on the Keras
backend of `KERAS_BACKEND`, and prints the record's figures as JSON.

Run by `tests/test_backends.py` once per backend: the same weights (drawn
with numpy, not by any backend's initializers) and the same batch must give
the same statistics everywhere.
"""

import json
import sys

import keras
import numpy as np

from keras_trainwatch.probe import ProbeBatch
from keras_trainwatch.probe.build import build_probe


def model():
    inputs = keras.Input((6, 4))
    sequence = keras.layers.LSTM(5, return_sequences=True)(inputs)
    last = keras.layers.SimpleRNN(6)(sequence)
    hidden = keras.layers.Dense(
        12, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)
    )(last)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.Dense(8, activation="tanh")(hidden)
    hidden = keras.layers.Dense(8, activation="relu")(hidden)
    outputs = keras.layers.Dense(3, activation="softmax")(hidden)
    built = keras.Model(inputs, outputs)
    built.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return built


def main():
    rng = np.random.default_rng(0)
    probed = model()
    for variable in probed.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith("moving_variance"):
            variable.assign(np.ones(shape, "float32"))
        else:
            variable.assign(rng.normal(scale=0.6, size=shape).astype("float32"))
    x = rng.normal(size=(32, 6, 4)).astype("float32")
    y = rng.integers(0, 3, size=32)
    probe = build_probe(probed, ProbeBatch.from_data((x, y)))
    record = probe(0, 0)
    json.dump(
        {
            "backend": keras.backend.backend(),
            "loss": record.loss,
            "grad_norm": {
                w.name: w.grad_norm
                for layer in record.layers
                for w in layer.weights
            },
            "data_grad_norm": {
                w.name: w.data_grad_norm
                for layer in record.layers
                for w in layer.weights
                if w.data_grad_norm is not None
            },
            "weight_norm": {
                w.name: w.weight_norm
                for layer in record.layers
                for w in layer.weights
            },
            "dead_units": {d.name: d.dead_units for d in record.dead_units},
            "saturated": {s.name: s.saturated for s in record.saturation},
            "weight_spread": {
                u.name: u.weight_spread for u in record.unit_spread
            },
            "grad_spread": {u.name: u.grad_spread for u in record.unit_spread},
            "early_late": {
                t.name: [t.early_grad, t.late_grad]
                for t in record.time_gradients
                if t.steps is not None
            },
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
