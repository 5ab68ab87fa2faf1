"""One worker of the MultiWorkerMirroredStrategy test (test_distribution.py
starts two). TF_CONFIG comes from the environment; argv: log_dir, result
file. Trains with GradientWatch + AutoLRReducer and writes what it saw as
JSON.

Keras 3.15 cannot train under MultiWorkerMirroredStrategy: `fit` fails
before any callback runs (keras-team/keras#20585: `_maybe_symbolic_build`
cannot reduce the distributed batch), and its compiled train function fails
too (it averages the scalar logs along axis 0). So this drives what `fit`
would, with a train function of its own (the same train step: forward,
`compute_loss`, `optimizer.apply_gradients` on every replica) and the
callbacks' hooks called in `fit`'s order.
"""

import json
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

import keras_trainwatch as ktw
from keras_trainwatch.datasets import load_digits

EPOCHS, SAMPLES, BATCH = 2, 640, 64

log_dir, result_path = sys.argv[1], sys.argv[2]
keras.config.disable_traceback_filtering()
strategy = tf.distribute.MultiWorkerMirroredStrategy()
keras.utils.set_random_seed(0)
x, y = load_digits()
x, y = x[:SAMPLES], y[:SAMPLES]
with strategy.scope():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu", name="hidden_0"),
            keras.layers.Dense(
                32,
                activation="relu",
                name="hidden_1",
                bias_initializer=keras.initializers.Constant(-20.0),
            ),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)


# Outside the strategy's scope: a plain variable of this worker, updated
# with the loss reduced over every replica.
loss_mean = keras.metrics.Mean()


@tf.function
def train_function(iterator):
    def step(data):
        features, labels = data
        with tf.GradientTape() as tape:
            loss = model.compute_loss(
                features, labels, model(features, training=True)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    loss = strategy.reduce(
        "SUM", strategy.run(step, args=(next(iterator),)), axis=None
    )
    # As Keras's train function: the epoch's running mean loss, from which
    # the watch recovers each step's loss.
    loss_mean.update_state(loss)
    return {"loss": loss_mean.result()}


model.train_function = train_function

watch = ktw.GradientWatch(
    (x[:256], y[:256]),
    every_n_steps=5,
    log_dir=log_dir,
    on_finding=lambda f: None,
)
# A plateau at the second epoch's end (no change of 10 counts as one): the
# dead layer of this model is dead from the start, which no lower rate helps.
reducer = ktw.AutoLRReducer(
    monitor="loss", patience=0, min_delta=10, watch=watch, factor=0.5
)
steps = math.ceil(SAMPLES / BATCH)
callbacks = keras.callbacks.CallbackList(
    [watch, reducer], model=model, epochs=EPOCHS, steps=steps
)
dataset = strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
)
callbacks.on_train_begin()
for epoch in range(EPOCHS):
    loss_mean.reset_state()
    callbacks.on_epoch_begin(epoch)
    iterator = iter(dataset)
    for step in range(steps):
        callbacks.on_train_batch_begin(step)
        logs = model.train_function(iterator)
        callbacks.on_train_batch_end(step, logs)
    callbacks.on_epoch_end(epoch, {"loss": float(loss_mean.result())})
callbacks.on_train_end()

with open(result_path, "w") as file:
    json.dump(
        {
            "replicas": watch.probe.replicas,
            "chief": watch.writes_summaries,
            "findings": [[f.kind, f.layer, f.step] for f in watch.findings],
            "reductions": [[r.step, r.new_lr] for r in reducer.reductions],
            "records": len(watch.records),
            "grad_norms": [r.grad_norm for r in watch.records],
        },
        file,
    )
