import keras
import pytest
from helpers import finding

import keras_trainwatch as ktw
from keras_trainwatch.watch.on_finding import (
    PROGRESS_LINE,
    act_on,
    check_on_finding,
    report_new,
)

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("bad", ["ignore", "", None, 3])
def test_unknown_on_finding_is_rejected(bad):
    with pytest.raises(
        ValueError, match="`on_finding`.*'warn', 'stop', 'raise'"
    ):
        check_on_finding(bad)


def test_warn_logs_one_line_with_message_and_remedy(trainwatch_log):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    act_on(finding(), "warn", model)
    [record] = trainwatch_log.records
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        "[epoch 1, step 0] dead_relu in dense. Remedy: Lower the learning rate."
    )
    assert "\n" not in record.getMessage()
    assert not model.stop_training


def test_stop_sets_stop_training(trainwatch_log):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    act_on(finding(), "stop", model)
    assert model.stop_training


def test_raise_raises_with_the_finding():
    with pytest.raises(ktw.TrainingPathologyError) as raised:
        act_on(finding(), "raise", None)
    assert raised.value.finding == finding()


def test_callable_receives_the_finding():
    seen = []
    act_on(finding(), seen.append, None)
    assert seen == [finding()]


def test_findings_of_one_kind_at_one_probe_make_one_line(trainwatch_log):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    findings = [finding(layer=f"h{i}") for i in range(12)] + [
        ktw.Finding("exploding_gradients", "out", 0, 0, 5e3, 1e3, "Huge.")
    ]
    report_new(findings, "warn", model)
    lines = [r.getMessage() for r in trainwatch_log.records]
    assert len(lines) == 2
    assert lines[0].startswith("[epoch 1, step 0] dead_relu in h0.")
    assert (
        "Also in 11 more layer(s): h1, h2, h3, h4, h5, h6, h7, h8, ..."
        in lines[0]
    )
    assert lines[0].endswith("Remedy: Lower the learning rate.")
    assert lines[1].startswith("[epoch 1, step 0] Huge.")


def test_model_wide_findings_of_one_kind_each_get_their_own_line(
    trainwatch_log,
):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    inputs = ktw.Finding("unscaled_data", "d", 0, 0, 20, 5, "Inputs.")
    targets = ktw.Finding("unscaled_data", None, 0, 0, 70, 5, "Targets.")
    report_new([inputs, targets], "warn", model)
    lines = [r.getMessage() for r in trainwatch_log.records]
    assert [line.split(" Remedy")[0] for line in lines] == [
        "[epoch 1, step 0] Inputs.",
        "[epoch 1, step 0] Targets.",
    ]


def test_a_callable_still_gets_every_finding():
    seen = []
    report_new([finding(layer="a"), finding(layer="b")], seen.append, None)
    assert [f.layer for f in seen] == ["a", "b"]


def test_the_progress_bar_line_is_ended_before_a_finding(
    trainwatch_log, capsys
):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    PROGRESS_LINE.reset()
    report_new([finding()], "warn", model, after_progress_bar=7)
    assert capsys.readouterr().out == "\n"
    # Once per step: what else is printed at step 7 follows that break.
    report_new([finding()], "warn", model, after_progress_bar=7)
    assert capsys.readouterr().out == ""
    report_new([finding()], "warn", model, after_progress_bar=8)
    assert capsys.readouterr().out == "\n"
    report_new([finding()], "warn", model, after_progress_bar=None)
    assert capsys.readouterr().out == ""
