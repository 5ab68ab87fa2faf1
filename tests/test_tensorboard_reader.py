import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw
from keras_trainwatch.tensorboard.reader import read_runs

pytestmark = pytest.mark.backends


def test_reads_back_findings_and_series_of_every_run(digits, tmp_path):
    x, y = digits
    watches = {}
    for name, bias in [("dead", {1: -20.0}), ("healthy", 0.0)]:
        watch = ktw.GradientWatch(
            (x[:64], y[:64]), log_dir=tmp_path / name, on_finding=lambda f: None
        )
        compiled(mlp(depth=2, bias=bias)).fit(
            x[:320], y[:320], epochs=2, verbose=0, callbacks=[watch]
        )
        watches[name] = watch
    runs = read_runs(tmp_path)
    assert [run.name for run in runs] == ["dead", "healthy"]
    dead, healthy = runs
    assert dead.findings == tuple(
        ktw.Finding(
            f.kind,
            f.layer,
            f.epoch,
            f.step,
            pytest.approx(f.value),
            f.threshold,
            f.message,
            f.remedy,
            measure=f.measure,
        )
        for f in watches["dead"].findings
    )
    # Each value says what it measures, written and read back.
    assert {f.measure for f in dead.findings} == {"dead share of units"}
    assert healthy.findings == ()
    assert dead.series("grad_norm")["hidden_0"] == [
        (r.step, pytest.approx(r.layer("hidden_0").grad_norm))
        for r in watches["dead"].records
    ]
    assert set(dead.series("dead_fraction")) == {"hidden_0", "hidden_1"}


def test_missing_log_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        read_runs(tmp_path / "nope")
    assert read_runs(tmp_path) == []
