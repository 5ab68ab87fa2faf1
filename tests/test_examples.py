"""The examples run, show their pathology, and lose it once remedied."""

import os
import sys

import numpy as np
import pytest
from helpers import assert_watched_silently

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


@pytest.mark.parametrize(
    "example, kind",
    [
        ("vanishing_gradients", "vanishing_gradients"),
        ("exploding_gradients", "exploding_gradients"),
        ("dead_relu", "dead_relu"),
        ("builders_remedies", "vanishing_gradients"),
    ],
)
def test_example_catches_the_pathology_and_the_remedy_clears_it(
    example, kind, capsys
):
    module = __import__(example)
    before, after = module.main(epochs=2)
    assert kind in {f.kind for f in before.findings}
    assert_watched_silently(after)
    assert "remedy applied" in capsys.readouterr().out


def test_rescued_run_example_ends_finite_where_the_plain_run_ends_in_nan(
    capsys,
):
    import rescued_run

    alone, rescued, reducer = rescued_run.main(epochs=2)
    assert np.isnan(alone.history["loss"][-1])
    assert np.isfinite(rescued.history["loss"][-1])
    assert reducer.reductions
