import math

import pytest
from records import make_record

from keras_trainwatch.records import LayerStats, WeightStats, relative

pytestmark = pytest.mark.fast


def test_layer_norms_combine_the_weights_norms():
    layer = LayerStats(
        "dense",
        (WeightStats("k", 3.0, 8.0, 0), WeightStats("b", 4.0, 6.0, 2)),
    )
    assert layer.grad_norm == pytest.approx(5.0)
    assert layer.weight_norm == pytest.approx(10.0)
    assert layer.relative_grad == pytest.approx(0.5)
    assert layer.nonfinite == 2


@pytest.mark.parametrize(
    "num, den, expected",
    [(1.0, 4.0, 0.25), (0.0, 0.0, 0.0), (1.0, 0.0, math.inf)],
)
def test_relative(num, den, expected):
    assert relative(num, den) == expected


def test_relative_keeps_nan():
    assert math.isnan(relative(math.nan, 1.0))
    assert math.isnan(relative(1.0, math.nan))


def test_record_summaries():
    record = make_record(
        [("a", 3.0, 1.0), ("b", 4.0, 1.0)], dead=[("a", 1, 4), ("b", 3, 4)]
    )
    assert record.grad_norm == pytest.approx(5.0)
    assert record.max_dead_fraction == 0.75
    assert record.layer("b").grad_norm == 4.0
    with pytest.raises(KeyError, match="'c'"):
        record.layer("c")
