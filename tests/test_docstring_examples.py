"""The docstring examples that need no model or data of the caller run as
written, and where a line ends with a comment that is a Python value, the
line's value equals it (`x.shape  # (1797, 64)`)."""

import ast
import inspect
import re

import keras
import pytest

import keras_trainwatch
from keras_trainwatch import datasets, layers, models
from keras_trainwatch.findings import FindingKind
from keras_trainwatch.reducer.plateau import PlateauCounter
from keras_trainwatch.reducer.state_file import ReducerStateFile
from keras_trainwatch.watch.schedule import ProbeSchedule

pytestmark = pytest.mark.fast

# The others need the caller's model, data or a running fit (their examples
# show where a call goes in a callback's life, e.g. `Rollback`).
RUNNABLE = [
    PlateauCounter,
    FindingKind,
    datasets.load_digits,
    ReducerStateFile,
    ProbeSchedule,
    layers.dropout,
    layers.batch_normalization,
    layers.load_block_config,
    keras_trainwatch.ScaledSchedule,
    models.build_cnn,
    models.build_residual_mlp,
]


def example_of(obj) -> str:
    [block] = re.findall(r"```python\n(.*?)```", inspect.getdoc(obj), re.S)
    return block


def with_checks(source: str) -> str:
    """`expr  # value` lines become `assert (expr) == value`."""
    lines = []
    for line in source.splitlines():
        code, _, comment = line.partition("  # ")
        try:
            expected = ast.literal_eval(comment.strip())
            ast.parse(code.strip(), mode="eval")
        except (ValueError, SyntaxError):
            lines.append(line)
            continue
        lines.append(
            f"assert ({code.strip()}) == {expected!r}, ({code.strip()!r}, "
            f"{code.strip()})"
        )
    return "\n".join(lines)


@pytest.mark.parametrize(
    "obj", RUNNABLE, ids=lambda o: getattr(o, "__qualname__", str(o))
)
def test_docstring_example_runs(obj, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    namespace = dict(vars(inspect.getmodule(obj)))
    namespace.update(keras=keras, keras_trainwatch=keras_trainwatch)
    exec(compile(with_checks(example_of(obj)), str(obj), "exec"), namespace)


def test_the_checks_can_fail():
    with pytest.raises(AssertionError):
        exec(with_checks("1 + 1  # 3"), {})
