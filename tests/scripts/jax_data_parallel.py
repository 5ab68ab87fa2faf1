"""The watch and the reducer under `keras.distribution.DataParallel` on two
host devices (JAX), against the same run on one device; prints JSON.

Run by `tests/test_backends.py` in a process of its own: the two devices
exist only when XLA is told so before JAX starts.
"""

import json
import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ["KERAS_BACKEND"] = "jax"

import jax
import keras

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

x, y = load_digits()
x, y = x[:512], y[:512]


def run(distributed):
    keras.utils.set_random_seed(0)
    if distributed:
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices())
        )
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch((x[:64], y[:64]), every_n_steps=4)
    reducer = ktw.AutoLRReducer(watch=watch, monitor=None, rollback=True)
    model.fit(
        x, y, batch_size=32, epochs=2, callbacks=[watch, reducer], verbose=0
    )
    keras.distribution.set_distribution(None)
    figures = [
        [record.loss] + [layer.grad_norm for layer in record.layers]
        for record in watch.records
    ]
    sharding = model.layers[0].kernel.value.sharding
    return figures, len(getattr(sharding, "device_set", ())), watch.findings


single, _, single_findings = run(False)
parallel, devices, parallel_findings = run(True)
json.dump(
    {
        "devices": devices,
        "probes": [len(single), len(parallel)],
        "worst_relative_difference": max(
            abs(a - b) / max(abs(a), 1e-12)
            for row_a, row_b in zip(single, parallel)
            for a, b in zip(row_a, row_b)
        ),
        "same_findings": [f.key for f in single_findings]
        == [f.key for f in parallel_findings],
    },
    __import__("sys").stdout,
)
