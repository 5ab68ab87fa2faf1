"""What the views draw, computed once in flow.py: a fixed colour scale, and
NaN where the weights are NaN in every panel."""

import math

import pytest
from records import make_record

from keras_trainwatch.tensorboard.flow import RELATIVE_GRAD_SCALE, run_view
from keras_trainwatch.tensorboard.reader import read_runs
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter


def view_of(tmp_path, records):
    writer = ProbeSummaryWriter(tmp_path)
    for record in records:
        writer.write_record(record)
    writer.close()
    [run] = read_runs(tmp_path)
    return run_view(run)


def test_dead_units_of_a_probe_with_a_nan_loss_are_nan_not_healthy(tmp_path):
    healthy = make_record([("h", 1.0, 1.0)], dead=[("h", 1, 10)], step=0)
    broken = make_record(
        [("h", math.nan, 1.0, 5)], dead=[("h", 0, 10)], loss=math.nan, step=5
    )
    view = view_of(tmp_path, [healthy, broken])
    [[before, after]] = view["dead_fraction"]
    assert before == pytest.approx(0.1) and after == "nan"
    assert view["relative_grad"][0][1] == "nan"


def test_the_scale_is_the_same_for_every_run(tmp_path):
    small = view_of(tmp_path / "a", [make_record([("h", 1e-7, 1.0)])])
    large = view_of(tmp_path / "b", [make_record([("h", 10.0, 1.0)])])
    assert small["scale"] == large["scale"] == RELATIVE_GRAD_SCALE
    assert [m["at"] for m in RELATIVE_GRAD_SCALE["marks"]] == [-4.0, 0.0]
