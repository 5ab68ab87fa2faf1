"""What watching costs before training starts and per probe, next to Keras's
own training steps, on every model of the real-model benchmark (issue 15).

Each model runs in two fresh processes, so that neither pays for the other
what TensorFlow does once per process and shape (creating oneDNN
primitives, XLA-compiling Keras's grouped convolutions):

- `keras`: Keras's first `train_on_batch` (trace, graph optimization and
  first-op costs included: what training costs before it runs at speed
  without the watch) and a later one;
- `watched`: the watch's setup as `fit` pays it before the first step
  (constructing it, `set_model`: build what `fit` builds, the layout, the construction checks
  and the check of the probe batch, which is the first probe itself, run
  eagerly; then the first probe, which reuses it), Keras's first step after
  it, the second probe (which traces the compiled function), a later probe
  and a later step.

Both processes first train a tiny convolutional model for one step and take
one eager gradient of it, so what any process pays once, whoever comes first
(TensorFlow's and Keras's start-up, the first compiled step, the first eager
gradient), is counted in neither. The setting is the issue's: CPU, training
batches of 16, a probe of 32 samples, 64x64 images (or the family's
minimum; the keras_hub and keras.io models take their own inputs).

Printed per model: `setup/step` = the setup over Keras's first step alone
(target: at most 0.5); `delay/step` = how much later the first training step
ends with the watch than without it, over the same; `probe/step` = a later
probe over a later step, per sample (target: at most 1); `bare/step` = the
first eager forward and backward pass of the bare model on the probe's
samples, measured in a third fresh process (no watch code), over Keras's
first step: the least any first probe of those samples costs. Then the fixed
setup of watching the small MLP of `overhead.py` against a 10-second fit.

On a machine with a GPU the same command measures the GPU: the probe and
Keras's step both run on TensorFlow's default device.

    .venv/bin/python benchmarks/setup_cost.py [--repeat N] [MODEL ...]
    .venv/bin/python benchmarks/setup_cost.py --breakdown [MODEL ...]
    .venv/bin/python benchmarks/setup_cost.py --parts MODEL [MODEL ...]

MODEL is a name of the real-model benchmark (`app/VGG16` or `VGG16`,
`hub/Bert`, `io/unet`, ...), or `mlp` for the small MLP with `--parts`;
`--repeat N` measures each N times, each time in fresh processes (the
figures vary from run to run on a shared machine). With `--breakdown`:
where a later probe's time goes, the compiled probe against its own
gradient pass alone (the same stateless forward and backward, compiled the
same way, without the reductions of gradients and weights; it reduces the
layer outputs it reads itself) and against a Keras training step on as many
samples, best of 7 calls each, in one process, and the operations in the
graph of each (what a trace builds). With `--parts`: where the watch's
setup goes, part by part, in a fresh process per model (Keras's symbolic
build, the layout, the first probe's eager pass, which reduces the layer
outputs it reads, and its eager reductions of the gradients and weights,
the optimizer's state), with the eager pass's system time and page faults
against a second pass's: what the first touches of new memory cost; then
the same with the optimizer's state built before the pass, as the watch did
until it was moved after it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TRAIN_BATCH, PROBE_BATCH = 16, 32


def timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def timed_with_system_time(function):
    """`(wall seconds, system CPU seconds, minor page faults)` of a call:
    the kernel's share, mostly first touches of newly allocated memory."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = timed(function)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return (
        wall,
        after.ru_stime - before.ru_stime,
        after.ru_minflt - before.ru_minflt,
    )


def healthy_models() -> dict:
    import real_models

    return {
        case.name: case
        for case in real_models.cases()
        if case.label == real_models.HEALTHY
    }


def compiled_model(name, samples):
    """`(model, x, y)`: the real-model benchmark's model `name`, compiled
    with Adam and its loss, and `samples` samples of its data."""
    import keras
    import real_models

    keras.utils.set_random_seed(0)
    models = healthy_models()
    case = models.get(name) or models[f"app/{name}"]
    x, y = case.data(samples, 0)
    model = case.build()
    model.compile("adam", real_models._loss(case))
    return model, x, y


def first(data, n):
    import keras

    return keras.tree.map_structure(lambda a: a[:n], data)


def keras_alone(name):
    model, x, y = compiled_model(name, TRAIN_BATCH)
    return {
        "first_step": timed(lambda: model.train_on_batch(x, y)),
        "later_step": min(
            timed(lambda: model.train_on_batch(x, y)) for _ in range(3)
        ),
    }


def bare_pass(name):
    """The first eager forward and backward pass of the bare model on the
    probe batch (its own loss, `tf.GradientTape`, no watch code): what any
    first probe of these samples costs at least."""
    import tensorflow as tf

    model, x, y = compiled_model(name, PROBE_BATCH)

    def forward_and_backward():
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x, y, model(x, training=True))
        for gradient in tape.gradient(loss, model.trainable_variables):
            if gradient is not None:
                # An embedding's gradient is sparse: its rows are the values.
                getattr(gradient, "values", gradient).numpy()

    return {"first_pass": timed(forward_and_backward)}


def watched(name):
    import keras_trainwatch as ktw

    model, x, y = compiled_model(name, PROBE_BATCH)
    xs, ys = first(x, TRAIN_BATCH), y[:TRAIN_BATCH]
    started = time.perf_counter()
    watch = ktw.GradientWatch(
        (x, y), probe_samples=PROBE_BATCH, loss_spike_z=None
    )
    watch.set_model(model)
    watch._run_probe()
    setup = time.perf_counter() - started
    first_step = timed(lambda: model.train_on_batch(xs, ys))
    second_probe = timed(watch._run_probe)
    later_probe = min(timed(watch._run_probe) for _ in range(3))
    later_step = min(
        timed(lambda: model.train_on_batch(xs, ys)) for _ in range(3)
    )
    assert watch.probe.tracing_count == 1
    return {
        "setup": setup,
        "first_step": first_step,
        "second_probe": second_probe,
        "later_probe": later_probe,
        "later_step": later_step,
    }


# `--parts mlp` measures the small MLP's setup part by part.
SMALL_MLP = "mlp"


def small_mlp_model():
    """`(model, x, y)`: overhead.py's MLP, compiled, and its probe of 256."""
    import keras
    import numpy as np

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
    return model, x, y


def small_mlp():
    """The watch's fixed setup on overhead.py's MLP (probe of 256)."""
    import keras_trainwatch as ktw

    model, x, y = small_mlp_model()
    started = time.perf_counter()
    watch = ktw.GradientWatch((x, y), probe_samples=None, loss_spike_z=None)
    watch.set_model(model)
    watch._run_probe()
    setup = time.perf_counter() - started
    second = timed(watch._run_probe)
    later = min(timed(watch._run_probe) for _ in range(3))
    return {"setup": setup, "second_probe": second, "later_probe": later}


def start_up():
    """What any process pays once, whoever comes first: importing
    TensorFlow, Keras and this package, the first compiled training step and
    the first eager gradient of a tiny convolutional model. Not counted for
    either side."""
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_trainwatch.watch  # noqa: F401 -- imported once, like keras

    tiny = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )
    tiny.compile("adam", "mse")
    x, y = np.zeros((2, 8, 8, 3), "float32"), np.zeros((2, 2), "float32")
    tiny.train_on_batch(x, y)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tiny(x, training=True))
    tape.gradient(loss, tiny.trainable_variables)


def child(kind, name=None):
    """Runs one measurement in this (fresh) process and prints it as JSON."""
    start_up()
    result = CHILDREN[kind](name) if name else CHILDREN[kind]()
    print(json.dumps(result), flush=True)


def in_fresh_process(*args):
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(name):
    alone = in_fresh_process("keras", name)
    bare = in_fresh_process("bare", name)
    watch = in_fresh_process("watched", name)
    delay = watch["setup"] + watch["first_step"] - alone["first_step"]
    # Both later figures from the watched process: one run, warm.
    per_sample = (watch["later_probe"] / PROBE_BATCH) / (
        watch["later_step"] / TRAIN_BATCH
    )
    print(
        f"| {name} | {watch['setup']:.2f} | {alone['first_step']:.2f} | "
        f"{watch['first_step']:.2f} | {watch['second_probe']:.2f} | "
        f"{watch['later_probe']:.3f} | {watch['later_step']:.3f} | "
        f"{watch['setup'] / alone['first_step']:.2f} | "
        f"{delay / alone['first_step']:.2f} | {per_sample:.2f} | "
        f"{bare['first_pass']:.2f} | "
        f"{bare['first_pass'] / alone['first_step']:.2f} |",
        flush=True,
    )


def breakdown(name):
    import tensorflow as tf

    import keras_trainwatch as ktw
    from keras_trainwatch.probe.backends.tensorflow import (
        graph_options as _tf_compat,
    )
    from keras_trainwatch.probe.statistics import read

    model, x, y = compiled_model(name, PROBE_BATCH)
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
    operations = [
        len(
            function.get_concrete_function(*probe._batch).graph.get_operations()
        )
        for function in (probe._function, gradient_pass)
    ]

    def best(function):
        return min(timed(function) for _ in range(7))

    with _tf_compat.graph_optimization_off():
        whole = best(lambda: read(probe._function(*probe._batch)))
        alone = best(lambda: gradient_pass(*probe._batch)[0].numpy())
    step = best(lambda: model.train_on_batch(x, y))
    print(
        f"| {name} | {whole:.3f} | {alone:.3f} | {step:.3f} | "
        f"{whole / alone:.2f} | {alone / step:.2f} | {operations[0]} | "
        f"{operations[1]} |",
        flush=True,
    )


def setup_parts(name, optimizer_first=False):
    """Where the setup goes, part by part, in the watch's order: Keras's
    symbolic build of the model, compiled loss and metrics, the layout, the
    eager gradient pass (its layer outputs reduced in it) and the eager
    reductions of the gradients and weights of the first probe, then
    the optimizer's state. With `optimizer_first`, the optimizer's state is
    built before the pass (the order before it was moved): what that does
    to the pass's first touches of new memory."""
    from keras_trainwatch import _keras_compat
    from keras_trainwatch.probe.backends.tensorflow.probe import GradientProbe
    from keras_trainwatch.probe.batch import ProbeBatch
    from keras_trainwatch.probe.statistics import read, reduce_to_statistics

    model, x, y = (
        small_mlp_model()
        if name == SMALL_MLP
        else compiled_model(name, PROBE_BATCH)
    )
    batch = ProbeBatch.from_data((x, y))
    parts = {}

    def build_optimizer():
        parts["optimizer state"] = timed(
            lambda: _keras_compat.build_optimizer(model)
        )

    if optimizer_first:
        build_optimizer()
    parts["symbolic build"] = timed(
        lambda: _keras_compat.build_like_fit(
            model, (batch.x, batch.y, batch.sample_weight)
        )
    )
    started = time.perf_counter()
    probe = GradientProbe(model, batch)
    parts["layout"] = time.perf_counter() - started
    passes = []
    parts["eager pass"], system, faults = timed_with_system_time(
        lambda: passes.append(probe._gradient_pass(*probe._batch))
    )
    probe._find_connected(passes[0])
    parts["eager reductions"] = timed(
        lambda: read(
            reduce_to_statistics(
                passes.pop(), probe.layout, probe._connected, 1, False
            )
        )
    )
    # The first pass's tensors are gone, as they are in the watch: a second
    # pass can reuse their memory.
    second_pass = timed_with_system_time(
        lambda: probe._gradient_pass(*probe._batch)
    )
    if not optimizer_first:
        build_optimizer()
    return {
        "variables": len(probe.layout.variables),
        "parts": parts,
        "first_pass_system": system,
        "first_pass_faults": faults,
        "second_pass": second_pass,
    }


CHILDREN = {
    "keras": keras_alone,
    "bare": bare_pass,
    "watched": watched,
    "parts": setup_parts,
    "parts-optimizer-first": lambda name: setup_parts(name, True),
    "mlp": small_mlp,
}


def print_parts(name, kind, found):
    order = (
        "optimizer state first (the old order)"
        if kind == "parts-optimizer-first"
        else "the watch's order"
    )
    print(
        f"{name} ({found['variables']} variables), {order}: "
        + ", ".join(
            f"{part} {seconds:.3f} s"
            for part, seconds in found["parts"].items()
        )
        + f"; the eager pass's system time (first touches of new memory) "
        f"{found['first_pass_system']:.2f} s, {found['first_pass_faults']} "
        "page faults; a second eager pass {:.2f} s, system {:.2f} s, {} page "
        "faults".format(*found["second_pass"]),
        flush=True,
    )


def main(args):
    if args and args[0] == "--child":
        child(*args[1:])
        return
    if args and args[0] == "--parts":
        for name in args[1:]:
            for kind in ("parts", "parts-optimizer-first"):
                print_parts(name, kind, in_fresh_process(kind, name))
        return
    if args and args[0] == "--breakdown":
        print(
            "| model | probe (s) | its gradient pass alone (s) | Keras step (s) "
            "| probe/pass | pass/step | probe graph operations | pass graph "
            "operations |\n|---|---|---|---|---|---|---|---|"
        )
        for name in args[1:] or list(healthy_models()):
            breakdown(name)
        return
    repeats = 1
    if args and args[0] == "--repeat":
        repeats, args = int(args[1]), args[2:]
    print(
        "| model | watch setup (s) | Keras 1st step alone (s) | Keras 1st "
        "step after setup (s) | 2nd probe, traced (s) | later probe (s) | "
        "Keras later step (s) | setup/step | delay/step | probe/step per "
        "sample | bare pass, 1st (s) | bare/step |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for name in args or list(healthy_models()):
        for _ in range(repeats):
            row(name)
    mlp = in_fresh_process("mlp")
    print(
        f"\nsmall MLP (784-256-256-10, probe of 256): setup "
        f"{mlp['setup'] * 1e3:.0f} ms = {mlp['setup'] / 10:.2%} of a "
        f"10-second fit; second probe (trace) {mlp['second_probe'] * 1e3:.0f} "
        f"ms, later probes {mlp['later_probe'] * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
