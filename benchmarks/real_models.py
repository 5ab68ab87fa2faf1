"""Real-model benchmark: is GradientWatch silent on models nobody here wrote,
and does it catch the same families made faulty?

Healthy rows: every family of `keras.applications` (weights=None, small
inputs, each family's own `preprocess_input` on 0-255 images), backbones of
`keras_hub` built from small configs (no presets, no downloads), and
architectures in the style of keras.io examples (a Transformer block, a
masked bidirectional LSTM, a small U-Net, the MNIST convnet). Each is
trained briefly on generated data of the right shape that it can learn, and
watched by two `GradientWatch`es at once: one probing held-out data, one
probing 32 of its own training samples (which it memorizes).

Faulty rows: the same kinds of models made faulty (saturating activations
everywhere, init scales far too large, a learning rate x100, biases that
kill ReLUs, heavy weight decay on a deep sigmoid stack).

Every label is confirmed by an independent measurement with code of its own
(an eager `GradientTape` on the data loss, unit outputs counted directly, and
training accuracy against chance):

Each measure is taken before training and after it:

- healthy: the loss stays finite, the data loss on 32 training samples
  fell below 0.8 of its value before training, the gradient of the data
  loss reaches the input-most trainable layer (its relative gradient is at
  least 1e-3 of the largest), no ReLU layer has half its units dead and no
  gradient norm exceeds 1e4;
- vanishing: that ratio is below 1e-3 and the data loss did not fall so;
- exploding: a non-finite loss or gradient, or a gradient norm above 1e4;
- dead_relu: at least half the units of some ReLU layer output 0 for every
  probe sample.

Printed: one row per model (label, confirmed, findings with the held-out
probe and with the training probe, the probe index that first caught a
faulty row, wall time), the totals, and the worst healthy value of each
statistic next to its threshold.

    ./scripts/setup_env.sh test,bench
    .venv/bin/python benchmarks/real_models.py [--only NAME ...] [--list] [--checks-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np
import tensorflow as tf
from dead_units import dead_fraction
from keras import layers as L

import keras_trainwatch as ktw
import keras_trainwatch.detectors
from keras_trainwatch.datasets import load_digits

HEALTHY, VANISHING, EXPLODING, DEAD = (
    "healthy",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relu",
)
CLASSES = 10
TRAIN, HELD_OUT, PROBE = 256, 64, 32
apps = keras.applications


@dataclasses.dataclass
class Case:
    name: str
    label: str
    build: Callable[[], keras.Model]
    data: Callable[[int, int], tuple]  # (n, seed) -> (x, y)
    optimizer: Callable[[], keras.optimizers.Optimizer] = lambda: (
        keras.optimizers.Adam(1e-3)
    )
    epochs: int = 3
    batch_size: int = 32
    segmentation: bool = False


# --- data -----------------------------------------------------------------


def images(size, preprocess):
    """Class-coloured blobs on noise, 0-255, then the family's own
    preprocessing: learnable in a few epochs."""

    def make(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, CLASSES, n)
        palette = np.random.default_rng(99).uniform(0, 255, (CLASSES, 3))
        grid = np.linspace(-1, 1, size)
        blob = np.exp(-4 * (grid[:, None] ** 2 + grid[None, :] ** 2))
        x = rng.uniform(0, 255, (n, size, size, 3)) * 0.5
        x += blob[None, :, :, None] * palette[y][:, None, None, :] * 0.5
        x = np.clip(x, 0, 255).astype("float32")
        return preprocess(x.copy()), y

    return make


def tokens(length, vocabulary=500):
    """Sequences whose class is set by which of ten marker tokens occurs;
    zero padding at the end (for masking)."""

    def make(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, CLASSES, n)
        x = rng.integers(CLASSES + 1, vocabulary, (n, length))
        positions = rng.integers(0, length // 2, n)
        x[np.arange(n), positions] = y + 1
        lengths = rng.integers(length // 2, length + 1, n)
        x[np.arange(length)[None, :] >= lengths[:, None]] = 0
        return x.astype("int32"), y

    return make


def masks(size):
    """Images of a bright disc on noise; the target is the disc's mask."""

    def make(n, seed):
        rng = np.random.default_rng(seed)
        grid = np.stack(np.meshgrid(np.arange(size), np.arange(size)), -1)
        centres = rng.uniform(size * 0.3, size * 0.7, (n, 1, 1, 2))
        radius = rng.uniform(size * 0.15, size * 0.3, (n, 1, 1))
        disc = (np.linalg.norm(grid[None] - centres, axis=-1) < radius) * 1.0
        x = rng.normal(0, 0.3, (n, size, size, 1)) + disc[..., None]
        return x.astype("float32"), disc[..., None].astype("float32")

    return make


def digits_like(n, seed):
    """The shipped UCI handwritten digits (real data), 8x8 scaled up to
    24x24 and padded to MNIST's 28x28x1, in [0, 1]."""
    x, y = load_digits(flatten=False)
    order = np.random.default_rng(seed).permutation(len(y))[:n]
    x = x[order].reshape(-1, 8, 8, 1).astype("float32")
    x = tf.image.resize(x / x.max(), (24, 24), method="bilinear").numpy()
    x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    return x.astype("float32"), y[order]


# --- models -----------------------------------------------------------------


def application(constructor, size, **kwargs):
    def build():
        return constructor(
            weights=None, input_shape=(size, size, 3), classes=CLASSES, **kwargs
        )

    return build


def transformer_classifier(length=32, vocabulary=500, dim=32):
    """keras.io "Text classification with Transformer"."""
    inputs = keras.Input((length,), dtype="int32")
    x = L.Embedding(vocabulary, dim)(inputs)
    x = x + L.Embedding(length, dim)(keras.ops.arange(length))
    attention = L.MultiHeadAttention(num_heads=2, key_dim=dim)(x, x)
    x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(attention))
    ffn = L.Dense(dim)(L.Dense(64, activation="relu")(x))
    x = L.LayerNormalization(epsilon=1e-6)(x + L.Dropout(0.1)(ffn))
    x = L.GlobalAveragePooling1D()(x)
    x = L.Dropout(0.1)(L.Dense(20, activation="relu")(x))
    return keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(x))


def masked_bilstm(length=32, vocabulary=500):
    """keras.io "Bidirectional LSTM on IMDB", with masking."""
    inputs = keras.Input((length,), dtype="int32")
    x = L.Embedding(vocabulary, 32, mask_zero=True)(inputs)
    x = L.Bidirectional(L.LSTM(32, return_sequences=True))(x)
    x = L.Bidirectional(L.LSTM(32))(x)
    return keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(x))


def small_unet(size=32):
    """keras.io "Image segmentation with a U-Net-like architecture", small."""
    inputs = keras.Input((size, size, 1))
    x = L.Conv2D(16, 3, strides=2, padding="same")(inputs)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    skip = x
    for filters in (32, 64):
        x = L.Activation("relu")(x)
        x = L.BatchNormalization()(
            L.SeparableConv2D(filters, 3, padding="same")(x)
        )
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = L.Conv2D(filters, 1, strides=2, padding="same")(skip)
        x = L.add([x, residual])
        skip = x
    for filters in (64, 32, 16):
        x = L.Activation("relu")(x)
        x = L.BatchNormalization()(
            L.Conv2DTranspose(filters, 3, padding="same")(x)
        )
        x = L.UpSampling2D(2)(x)
        residual = L.Conv2D(filters, 1, padding="same")(L.UpSampling2D(2)(skip))
        x = L.add([x, residual])
        skip = x
    x = L.Resizing(size, size)(x)
    return keras.Model(
        inputs, L.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    )


def mnist_convnet(
    activation="relu", initializer="glorot_uniform", dense_bias=0.0
):
    """keras.io "Simple MNIST convnet"."""
    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(32, 3, activation=activation, kernel_initializer=initializer)(
        inputs
    )
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(64, 3, activation=activation, kernel_initializer=initializer)(
        x
    )
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(
        64,
        activation=activation,
        kernel_initializer=initializer,
        bias_initializer=keras.initializers.Constant(dense_bias),
    )(x)
    x = L.Dropout(0.5)(x)
    return keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(x))


def lenet_sigmoid_stack(depth=8, l2=1e-3):
    """LeNet-5 with a deep sigmoid dense stack, weight decay on every kernel
    (the kind of model AUTOTRAINER's benchmark is full of)."""
    reg = keras.regularizers.L2(l2)
    inputs = keras.Input((28, 28, 1))
    x = L.Conv2D(6, 5, activation="sigmoid", kernel_regularizer=reg)(inputs)
    x = L.AveragePooling2D(2)(x)
    x = L.Conv2D(16, 5, activation="sigmoid", kernel_regularizer=reg)(x)
    x = L.Flatten()(L.AveragePooling2D(2)(x))
    for _ in range(depth):
        x = L.Dense(84, activation="sigmoid", kernel_regularizer=reg)(x)
    return keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(x))


def deep_vgg(activation="relu", scale=1.0, size=32):
    """VGG16 at 32x32 with every activation swapped, or every kernel
    scaled (a model without normalization, so a bad scale compounds)."""

    def build():
        model = apps.VGG16(
            weights=None, input_shape=(size, size, 3), classes=CLASSES
        )
        config = model.get_config()
        for layer in config["layers"]:
            if layer["config"].get("activation") == "relu":
                layer["config"]["activation"] = activation
        rebuilt = keras.Model.from_config(config)
        for layer in rebuilt.layers:
            kernel = getattr(layer, "kernel", None)
            if kernel is not None and scale != 1.0:
                kernel.assign(kernel * scale)
        return rebuilt

    return build


def killed_relus(build, beta=-10.0):
    """A model whose batch-norm offsets push every ReLU input below 0."""

    def killed():
        model = build()
        for layer in model.layers:
            if isinstance(layer, L.BatchNormalization) and layer.center:
                layer.beta.assign(keras.ops.full(layer.beta.shape, beta))
        return model

    return killed


def hub_backbone(kind):
    """A keras_hub backbone from a small config, with a classifier head."""
    import keras_hub

    length = 32
    backbone_class, input_names = {
        "bert": (
            keras_hub.models.BertBackbone,
            ("token_ids", "segment_ids", "padding_mask"),
        ),
        "gpt2": (keras_hub.models.GPT2Backbone, ("token_ids", "padding_mask")),
    }[kind]
    backbone = backbone_class(
        vocabulary_size=500,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=length,
    )
    inputs = {
        name: keras.Input((length,), dtype="int32", name=name)
        for name in input_names
    }
    outputs = backbone(inputs)
    if kind == "bert":
        features = outputs["pooled_output"]
    else:
        features = L.GlobalAveragePooling1D()(outputs)
    return keras.Model(inputs, L.Dense(CLASSES, activation="softmax")(features))


def hub_tokens(kind):
    make = tokens(32)

    def data(n, seed):
        x, y = make(n, seed)
        mask = (x != 0).astype("int32")
        inputs = {"token_ids": x, "padding_mask": mask}
        if kind == "bert":
            inputs["segment_ids"] = np.zeros_like(x)
        return inputs, y

    return data


def cases() -> list[Case]:
    families = [
        ("ConvNeXtTiny", apps.ConvNeXtTiny, apps.convnext.preprocess_input, 64),
        ("DenseNet121", apps.DenseNet121, apps.densenet.preprocess_input, 64),
        (
            "EfficientNetB0",
            apps.EfficientNetB0,
            apps.efficientnet.preprocess_input,
            64,
        ),
        (
            "EfficientNetV2B0",
            apps.EfficientNetV2B0,
            apps.efficientnet_v2.preprocess_input,
            64,
        ),
        (
            "InceptionV3",
            apps.InceptionV3,
            apps.inception_v3.preprocess_input,
            75,
        ),
        (
            "InceptionResNetV2",
            apps.InceptionResNetV2,
            apps.inception_resnet_v2.preprocess_input,
            75,
        ),
        ("MobileNet", apps.MobileNet, apps.mobilenet.preprocess_input, 64),
        (
            "MobileNetV2",
            apps.MobileNetV2,
            apps.mobilenet_v2.preprocess_input,
            64,
        ),
        (
            "MobileNetV3Small",
            apps.MobileNetV3Small,
            apps.mobilenet_v3.preprocess_input,
            64,
        ),
        ("NASNetMobile", apps.NASNetMobile, apps.nasnet.preprocess_input, 64),
        ("ResNet50", apps.ResNet50, apps.resnet.preprocess_input, 64),
        ("ResNet50V2", apps.ResNet50V2, apps.resnet_v2.preprocess_input, 64),
        ("VGG16", apps.VGG16, apps.vgg16.preprocess_input, 64),
        ("Xception", apps.Xception, apps.xception.preprocess_input, 71),
    ]
    result = [
        Case(
            f"app/{name}", HEALTHY, application(build, size), images(size, pre)
        )
        for name, build, pre, size in families
    ]
    result += [
        Case(
            "hub/Bert",
            HEALTHY,
            lambda: hub_backbone("bert"),
            hub_tokens("bert"),
            epochs=8,
        ),
        Case(
            "hub/GPT2",
            HEALTHY,
            lambda: hub_backbone("gpt2"),
            hub_tokens("gpt2"),
            epochs=8,
        ),
        Case(
            "io/transformer",
            HEALTHY,
            transformer_classifier,
            tokens(32),
            epochs=8,
        ),
        Case("io/masked_bilstm", HEALTHY, masked_bilstm, tokens(32), epochs=8),
        Case("io/unet", HEALTHY, small_unet, masks(32), segmentation=True),
        Case("io/mnist_convnet", HEALTHY, mnist_convnet, digits_like, epochs=8),
    ]
    vgg_images = images(32, apps.vgg16.preprocess_input)
    scaled = images(32, lambda x: x / 127.5 - 1.0)
    result += [
        Case("faulty/vgg16_sigmoid", VANISHING, deep_vgg("sigmoid"), scaled),
        Case("faulty/vgg16_tanh", VANISHING, deep_vgg("tanh"), scaled),
        Case(
            "faulty/convnet_sigmoid_sgd",
            VANISHING,
            lambda: mnist_convnet("sigmoid"),
            digits_like,
            optimizer=lambda: keras.optimizers.SGD(0.01),
        ),
        Case(
            "faulty/lenet_sigmoid_l2",
            VANISHING,
            lenet_sigmoid_stack,
            digits_like,
        ),
        Case(
            "faulty/vgg16_init_x3", EXPLODING, deep_vgg(scale=3.0), vgg_images
        ),
        Case(
            "faulty/convnet_init_x10",
            EXPLODING,
            lambda: mnist_convnet(
                initializer=keras.initializers.RandomNormal(0, 1.0)
            ),
            lambda n, s: (digits_like(n, s)[0] * 255, digits_like(n, s)[1]),
            optimizer=lambda: keras.optimizers.SGD(0.01),
        ),
        Case(
            "faulty/mobilenet_lr_x100",
            DEAD,
            application(apps.MobileNet, 64),
            images(64, apps.mobilenet.preprocess_input),
            optimizer=lambda: keras.optimizers.Adam(0.1),
        ),
        Case(
            "faulty/convnet_lr_x100",
            DEAD,
            mnist_convnet,
            digits_like,
            optimizer=lambda: keras.optimizers.Adam(0.1),
        ),
        Case(
            "faulty/resnet50_dead_bn",
            DEAD,
            killed_relus(application(apps.ResNet50, 64)),
            images(64, apps.resnet.preprocess_input),
        ),
        Case(
            "faulty/convnet_dead_bias",
            DEAD,
            lambda: mnist_convnet(dense_bias=-30.0),
            digits_like,
        ),
    ]
    return result


def _loss(case):
    if case.segmentation:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


# --- independent measurement ---------------------------------------------


def data_loss(model, loss, x, y):
    """The data loss alone, in training mode, with its own tape; batch-norm
    statistics and seeds put back afterwards."""
    state = [
        keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables
    ]
    try:
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        grads = tape.gradient(value, model.trainable_variables)
    finally:
        for variable, saved in zip(model.non_trainable_variables, state):
            variable.assign(saved)
    return float(value), grads


def stem_ratio_and_norm(model, grads):
    """(relative gradient of the first non-normalization trainable layer
    divided by the largest relative gradient among layers with weights of
    norm 1e-3 or more, largest gradient norm)."""
    by_id = {id(v): g for v, g in zip(model.trainable_variables, grads)}
    relative, norms = [], []
    for layer in _owning_layers(model):
        pairs = [(v, by_id.get(id(v))) for v in layer.trainable_variables]
        pairs = [
            (v, tf.convert_to_tensor(g)) for v, g in pairs if g is not None
        ]
        if not pairs:
            continue
        g = math.sqrt(sum(float(tf.reduce_sum(tf.square(g))) for _, g in pairs))
        w = math.sqrt(
            sum(float(tf.reduce_sum(tf.square(v.value))) for v, _ in pairs)
        )
        norms.append(g)
        # Normalization layers and near-zero weights (a LayerScale's 1e-6
        # gammas) make |g|/|w| meaningless as a reference.
        if "Normalization" not in type(layer).__name__ and w >= 1e-3:
            relative.append(g / w)
    top = max(relative, default=0.0)
    return (relative[0] / top if top else 0.0), max(norms, default=0.0)


def _owning_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _owning_layers(layer)
        elif layer.trainable_variables:
            yield layer


# --- running a case -----------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    case: Case
    confirmed: bool
    evidence: str
    held_out: list
    training: list
    records: list
    first_catch: int | None
    seconds: float


def run(case: Case) -> Outcome:
    keras.utils.set_random_seed(0)
    x, y = case.data(TRAIN, 0)
    xv, yv = case.data(HELD_OUT, 1)
    model = case.build()
    loss = _loss(case)
    model.compile(
        case.optimizer(),
        loss,
        metrics=None if case.segmentation else ["accuracy"],
    )
    take = lambda data, n: keras.tree.map_structure(lambda a: a[:n], data)  # noqa: E731
    held = ktw.GradientWatch(
        (take(xv, PROBE), yv[:PROBE]),
        on_finding=lambda f: None,
        keep_records=None,
    )
    train = ktw.GradientWatch(
        (take(x, PROBE), y[:PROBE]),
        on_finding=lambda f: None,
        keep_records=None,
    )
    loss_before, grads_before = data_loss(
        model, loss, take(x, PROBE), y[:PROBE]
    )
    ratio_before, norm_before = stem_ratio_and_norm(model, grads_before)
    dead_before = dead_fraction(model, take(xv, PROBE))
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        epochs=case.epochs,
        batch_size=case.batch_size,
        verbose=0,
        callbacks=[held, train],
    )
    seconds = time.perf_counter() - started
    loss_after, grads = data_loss(model, loss, take(x, PROBE), y[:PROBE])
    ratio, max_norm = stem_ratio_and_norm(model, grads)
    finite = math.isfinite(loss_after) and all(
        math.isfinite(v) for v in history.history["loss"]
    )
    accuracy = history.history.get("accuracy", [0.0])[-1]
    dead = dead_fraction(model, take(xv, PROBE))
    learned = loss_after < 0.8 * loss_before
    finite = finite and math.isfinite(loss_before)
    exploded = (not finite) or max(max_norm, norm_before) > 1e4
    confirmed = {
        HEALTHY: finite
        and learned
        and min(ratio, ratio_before) >= 1e-3
        and max(dead, dead_before) < 0.5
        and not exploded,
        VANISHING: finite and min(ratio, ratio_before) < 1e-3 and not learned,
        EXPLODING: exploded,
        DEAD: max(dead, dead_before) >= 0.5,
    }[case.label]
    evidence = (
        f"acc {accuracy:.2f} loss {loss_before:.3g}->{loss_after:.3g} "
        f"stem {ratio_before:.1e}->{ratio:.1e} |g|max {norm_before:.3g}->"
        f"{max_norm:.3g} dead {dead_before:.0%}->{dead:.0%}"
    )
    first_catch = None
    if case.label != HEALTHY:
        caught = [
            i
            for i, record in enumerate(held.records)
            if any(
                f.kind == case.label and f.step <= record.step
                for f in held.findings
            )
        ]
        first_catch = caught[0] if caught else None
    return Outcome(
        case,
        confirmed,
        evidence,
        list(held.findings),
        list(train.findings),
        list(held.records) + list(train.records),
        first_catch,
        seconds,
    )


def describe(findings):
    if not findings:
        return "none"
    kinds = sorted({f.kind for f in findings})
    return f"{len(findings)}: " + ", ".join(kinds)


def worst_healthy(outcomes):
    """What the detectors look at, at its worst over the healthy runs."""
    rows = {
        "vanishing ratio (first layer)": (math.inf, ""),
        "exploding |g| per input scale": (0.0, ""),
        "dead ReLU fraction": (0.0, ""),
        "saturated sigmoid/tanh share": (0.0, ""),
        "unit spread (identical: 0)": (math.inf, ""),
    }
    for outcome in outcomes:
        if outcome.case.label != HEALTHY:
            continue
        for record in outcome.records:
            layers = [lyr for lyr in record.layers if not lyr.normalization]
            relative = [lyr.data_relative_grad for lyr in layers]
            finite = [r for r in relative if math.isfinite(r)]
            if relative and finite and max(finite) > 0 and relative[0] > 0:
                value = relative[0] / max(finite)
                if value < rows["vanishing ratio (first layer)"][0]:
                    rows["vanishing ratio (first layer)"] = (
                        value,
                        outcome.case.name,
                    )
            for layer in record.layers:
                norm = layer.grad_norm
                if layer.reads_input and record.input_scale > 1:
                    norm /= record.input_scale
                if norm > rows["exploding |g| per input scale"][0]:
                    rows["exploding |g| per input scale"] = (
                        norm,
                        outcome.case.name,
                    )
            if record.max_dead_fraction > rows["dead ReLU fraction"][0]:
                rows["dead ReLU fraction"] = (
                    record.max_dead_fraction,
                    outcome.case.name,
                )
            for stats in record.saturation:
                if stats.saturated > rows["saturated sigmoid/tanh share"][0]:
                    rows["saturated sigmoid/tanh share"] = (
                        stats.saturated,
                        outcome.case.name,
                    )
            for stats in record.unit_spread:
                spread = max(stats.weight_spread, stats.grad_spread)
                if spread < rows["unit spread (identical: 0)"][0]:
                    rows["unit spread (identical: 0)"] = (
                        spread,
                        outcome.case.name,
                    )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", nargs="*", help="run only these names (substring)"
    )
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument(
        "--checks-only",
        action="store_true",
        help="only build each model and print its construction-check findings",
    )
    args = parser.parse_args()
    selected = [
        c
        for c in cases()
        if not args.only or any(o in c.name for o in args.only)
    ]
    if args.list:
        print("\n".join(f"{c.name}  {c.label}" for c in selected))
        return
    if args.checks_only:
        for case in selected:
            model = case.build()
            model.compile("adam", _loss(case))
            found = ktw.detectors.check_model(model)
            print(f"{case.name:28} {case.label:20} {describe(found)}")
        return
    header = f"{'model':28} {'label':20} {'ok':3} {'held-out probe':34} {'training probe':34} {'caught':6} {'s':>5}"
    print(header)
    outcomes = []
    for case in selected:
        try:
            outcome = run(case)
        except Exception as error:  # noqa: BLE001 -- one case fails, the rest run
            print(
                f"{case.name:28} {case.label:20} could not run: {type(error).__name__}: {str(error)[:120]}"
            )
            continue
        outcomes.append(outcome)
        caught = (
            "" if outcome.first_catch is None else f"#{outcome.first_catch}"
        )
        if case.label != HEALTHY and outcome.first_catch is None:
            caught = "MISSED"
        print(
            f"{case.name:28} {case.label:20} {'yes' if outcome.confirmed else 'NO':3} "
            f"{describe(outcome.held_out):34} {describe(outcome.training):34} "
            f"{caught:6} {outcome.seconds:5.0f}   {outcome.evidence}",
            flush=True,
        )
    healthy = [o for o in outcomes if o.case.label == HEALTHY and o.confirmed]
    faulty = [o for o in outcomes if o.case.label != HEALTHY and o.confirmed]
    alarms = [o for o in healthy if o.held_out or o.training]
    caught = [o for o in faulty if o.first_catch is not None]
    print(
        f"\nhealthy (confirmed) {len(healthy)}: false alarms {len(alarms)} "
        f"(held-out probe {sum(bool(o.held_out) for o in healthy)}, "
        f"training probe {sum(bool(o.training) for o in healthy)}); "
        f"faulty (confirmed) {len(faulty)}: caught {len(caught)}; "
        f"unconfirmed labels {len(outcomes) - len(healthy) - len(faulty)}"
    )
    print("\nWorst healthy value of each statistic (threshold):")
    thresholds = {
        "vanishing ratio (first layer)": "flagged below 1e-3 (with |g|/|w| < 1e-4)",
        "exploding |g| per input scale": "flagged above 1e3",
        "dead ReLU fraction": "flagged at 0.5",
        "saturated sigmoid/tanh share": "flagged at 0.5",
        "unit spread (identical: 0)": "flagged at or below 1e-6",
    }
    for name, (value, where) in worst_healthy(outcomes).items():
        print(f"  {name:32} {value:10.3g}  ({where})   {thresholds[name]}")


if __name__ == "__main__":
    main()
