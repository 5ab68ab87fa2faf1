"""Every public class and command refuses bad input early, with a message
that names the argument, says what is allowed and what was received. The
table below is the one in docs/bad_inputs.md, messages as printed:
`python tests/test_bad_inputs.py` writes that page again."""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_trainwatch as ktw
from keras_trainwatch import layers, models

PAGE = Path(__file__).resolve().parent.parent / "docs" / "bad_inputs.md"
x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int32")


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def watch_of_another_fit():
    watch = ktw.GradientWatch((x, y))
    reducer = ktw.AutoLRReducer(monitor="loss", watch=watch)
    small_model().fit(x, y, verbose=0, callbacks=[reducer])


def trainwatch(*args):
    result = subprocess.run(
        [sys.executable, "-m", "keras_trainwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    raise SystemExit(result.stderr.strip().splitlines()[-1])


# (what, when it is refused, the call, the argument its message names)
CASES = [
    (
        "GradientWatch(None)",
        "construction",
        lambda: ktw.GradientWatch(None),
        "probe_data",
    ),
    (
        "GradientWatch(x)",
        "construction",
        lambda: ktw.GradientWatch(x),
        "probe_data",
    ),
    (
        "GradientWatch((x,)) on a model with a loss",
        "set_model",
        lambda: ktw.GradientWatch((x,)).set_model(small_model()),
        "probe_data",
    ),
    (
        "GradientWatch((x, labels out of range))",
        "set_model",
        lambda: ktw.GradientWatch((x, np.full(8, 7))).set_model(small_model()),
        "probe_data",
    ),
    (
        "GradientWatch((x[:, :3], y))",
        "set_model",
        lambda: ktw.GradientWatch((x[:, :3], y)).set_model(small_model()),
        "probe_data",
    ),
    (
        "probe_samples=0",
        "construction",
        lambda: ktw.GradientWatch((x, y), probe_samples=0),
        "probe_samples",
    ),
    (
        "every_n_steps=2.5",
        "construction",
        lambda: ktw.GradientWatch((x, y), every_n_steps=2.5),
        "every_n_steps",
    ),
    (
        "log_dir=123",
        "construction",
        lambda: ktw.GradientWatch((x, y), log_dir=123),
        "log_dir",
    ),
    (
        "vanishing_ratio=2",
        "construction",
        lambda: ktw.GradientWatch((x, y), vanishing_ratio=2),
        "vanishing_ratio",
    ),
    (
        "exploding_grad_norm=-1",
        "construction",
        lambda: ktw.GradientWatch((x, y), exploding_grad_norm=-1),
        "exploding_grad_norm",
    ),
    (
        "dead_fraction=0",
        "construction",
        lambda: ktw.GradientWatch((x, y), dead_fraction=0),
        "dead_fraction",
    ),
    (
        "loss_patience=1",
        "construction",
        lambda: ktw.GradientWatch((x, y), loss_patience=1),
        "loss_patience",
    ),
    (
        'on_finding="ignore"',
        "construction",
        lambda: ktw.GradientWatch((x, y), on_finding="ignore"),
        "on_finding",
    ),
    (
        "keep_records=0",
        "construction",
        lambda: ktw.GradientWatch((x, y), keep_records=0),
        "keep_records",
    ),
    (
        "loss_spike_z=0",
        "construction",
        lambda: ktw.GradientWatch((x, y), loss_spike_z=0),
        "loss_spike_z",
    ),
    (
        'logs="all"',
        "construction",
        lambda: ktw.GradientWatch((x, y), logs="all"),
        "logs",
    ),
    (
        "AutoLRReducer(monitor=3)",
        "construction",
        lambda: ktw.AutoLRReducer(monitor=3),
        "monitor",
    ),
    (
        "factor=1.5",
        "construction",
        lambda: ktw.AutoLRReducer(factor=1.5),
        "factor",
    ),
    (
        "patience=-1",
        "construction",
        lambda: ktw.AutoLRReducer(patience=-1),
        "patience",
    ),
    (
        "verbose=2",
        "construction",
        lambda: ktw.AutoLRReducer(verbose=2),
        "verbose",
    ),
    ('mode="up"', "construction", lambda: ktw.AutoLRReducer(mode="up"), "mode"),
    (
        "min_delta=nan",
        "construction",
        lambda: ktw.AutoLRReducer(min_delta=float("nan")),
        "min_delta",
    ),
    (
        "cooldown=-1",
        "construction",
        lambda: ktw.AutoLRReducer(cooldown=-1),
        "cooldown",
    ),
    (
        "min_lr=-1",
        "construction",
        lambda: ktw.AutoLRReducer(min_lr=-1),
        "min_lr",
    ),
    (
        'watch="w"',
        "construction",
        lambda: ktw.AutoLRReducer(watch="w"),
        "watch",
    ),
    (
        "watch not among fit's callbacks",
        "on_train_begin",
        watch_of_another_fit,
        "watch",
    ),
    (
        'react_to="dead_relu"',
        "construction",
        lambda: ktw.AutoLRReducer(react_to="dead_relu"),
        "react_to",
    ),
    (
        'react_to=("nope",)',
        "construction",
        lambda: ktw.AutoLRReducer(react_to=("nope",)),
        "react_to",
    ),
    (
        'rollback="yes"',
        "construction",
        lambda: ktw.AutoLRReducer(rollback="yes"),
        "rollback",
    ),
    (
        "max_rollbacks=0",
        "construction",
        lambda: ktw.AutoLRReducer(max_rollbacks=0),
        "max_rollbacks",
    ),
    (
        "rollback_dir=1",
        "construction",
        lambda: ktw.AutoLRReducer(rollback_dir=1),
        "rollback_dir",
    ),
    (
        "backup_dir=1",
        "construction",
        lambda: ktw.AutoLRReducer(backup_dir=1),
        "backup_dir",
    ),
    ("layers.dropout(1.0)", "call", lambda: layers.dropout(1.0), "rate"),
    (
        "layers.batch_normalization(momentum=2)",
        "call",
        lambda: layers.batch_normalization(momentum=2),
        "momentum",
    ),
    (
        "layers.BlockConfig(units=0)",
        "construction",
        lambda: layers.BlockConfig(units=0),
        "units",
    ),
    (
        "models.build_mlp((64,), 1)",
        "call",
        lambda: models.build_mlp((64,), 1),
        "outputs",
    ),
    (
        "models.build_cnn((64,), 10)",
        "call",
        lambda: models.build_cnn((64,), 10),
        "input_shape",
    ),
    (
        "trainwatch demo --epochs 0",
        "command line",
        lambda: trainwatch("demo", "--epochs", "0"),
        "--epochs",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_argument(case):
    _, _, call, argument = case
    with pytest.raises((ValueError, TypeError, SystemExit)) as refused:
        call()
    message = str(refused.value)
    assert argument in message, message
    # What was received: said as such, or the failure it caused.
    assert any(
        said in message for said in ("Received", "got", "does not fit")
    ), message


def table() -> str:
    rows = ["| input | refused at | message |", "|---|---|---|"]
    for what, when, call, _ in CASES:
        try:
            call()
            message = "(accepted)"
        except (ValueError, TypeError, SystemExit) as error:
            message = f"{type(error).__name__}: {error}"
        message = message.replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{what}` | {when} | {message} |")
    return (
        "# Bad input, and what it gets\n\n"
        "Every public class and command checks its arguments when it is\n"
        "made (or at the first moment the information exists: `set_model`\n"
        "for the probe batch against the model, `on_train_begin` for the\n"
        "reducer's watch) and names the argument, what is allowed and what\n"
        "was received. Generated from the cases of\n"
        "`tests/test_bad_inputs.py`, which checks that this page is current\n"
        "(`.venv/bin/python tests/test_bad_inputs.py` writes it again).\n\n"
        + "\n".join(rows)
        + "\n"
    )


def test_the_docs_page_shows_the_messages_as_printed():
    assert PAGE.read_text() == table(), (
        "docs/bad_inputs.md is stale: run .venv/bin/python "
        "tests/test_bad_inputs.py"
    )


if __name__ == "__main__":
    PAGE.write_text(table())
    print(f"wrote {PAGE}")
