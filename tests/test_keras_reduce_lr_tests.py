"""Keras's own `ReduceLROnPlateau` tests, run against `AutoLRReducer`.

The test module is read from the installed Keras (so it follows the Keras
under test), `callbacks.ReduceLROnPlateau(` replaced by
`ktw.AutoLRReducer(` and the expected message's name by ours. Every test
must pass except the one that `docs/auto_lr_reducer.md` states as a
deliberate difference: Keras raises for an optimizer with a
`LearningRateSchedule`, which the reducer scales instead.
"""

from __future__ import annotations

import importlib.util
import pathlib
import types

import keras
import pytest

import keras_trainwatch as ktw

KERAS_TESTS = (
    pathlib.Path(keras.__file__).parent
    / "src"
    / "callbacks"
    / "reduce_lr_on_plateau_test.py"
)
DELIBERATE = {
    "test_throws_when_optimizer_has_schedule": (
        "AutoLRReducer scales a LearningRateSchedule instead of refusing it "
        "(docs/auto_lr_reducer.md)"
    )
}


def _keras_tests() -> types.ModuleType:
    source = KERAS_TESTS.read_text()
    assert source.count("callbacks.ReduceLROnPlateau(") >= 5, "Keras changed"
    source = source.replace(
        "callbacks.ReduceLROnPlateau(", "ktw.AutoLRReducer("
    )
    source = source.replace(
        "ReduceLROnPlateau reducing learning rate",
        "AutoLRReducer reducing learning rate",
    )
    module = types.ModuleType("keras_reduce_lr_on_plateau_test")
    module.__dict__["ktw"] = ktw
    exec(compile(source, str(KERAS_TESTS), "exec"), module.__dict__)
    return module


pytestmark = pytest.mark.skipif(
    not KERAS_TESTS.exists()
    or importlib.util.find_spec("keras.src.testing") is None,
    reason="this Keras does not ship its callback tests",
)

# The module, not its TestCase class: pytest would collect a class bound here
# and run Keras's tests unchanged.
_KERAS_TESTS = _keras_tests() if KERAS_TESTS.exists() else None
_NAMES = sorted(
    name
    for name in vars(getattr(_KERAS_TESTS, "ReduceLROnPlateauTest", object))
    if name.startswith("test_")
)


def test_keras_ships_the_tests_we_run():
    assert "test_reduces_lr_with_model_fit" in _NAMES
    assert len(_NAMES) >= 5


def _run(name):
    case = _KERAS_TESTS.ReduceLROnPlateauTest(name)
    result = case.defaultTestResult()
    case.run(result)
    assert result.testsRun == 1 and not result.skipped
    return result.errors + result.failures


@pytest.mark.parametrize("name", [n for n in _NAMES if n not in DELIBERATE])
def test_keras_reduce_lr_on_plateau_test(name):
    problems = _run(name)
    assert not problems, problems[0][1]


@pytest.mark.parametrize("name", sorted(DELIBERATE))
def test_the_documented_difference_is_the_only_one(name):
    # Run all the same: if Keras's expectation ever held for the reducer,
    # the documented difference would be wrong.
    problems = _run(name)
    assert problems, f"{name} passes: {DELIBERATE[name]} no longer holds"
