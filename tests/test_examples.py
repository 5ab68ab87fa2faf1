"""The examples run, show their pathology, and lose it once remedied."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


@pytest.mark.parametrize(
    "example, kind",
    [
        ("vanishing_gradients", "vanishing_gradients"),
        ("exploding_gradients", "exploding_gradients"),
        ("dead_relu", "dead_relu"),
    ],
)
def test_example_catches_the_pathology_and_the_remedy_clears_it(
    example, kind, capsys
):
    module = __import__(example)
    before, after = module.main(epochs=2)
    assert kind in {f.kind for f in before.findings}
    assert after.findings == []
    assert "remedy applied" in capsys.readouterr().out
