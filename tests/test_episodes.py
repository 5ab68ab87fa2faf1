"""Episodes as records: a finding that ends and comes back is written, read
back and reported as two episodes, each with its own start and end; and a
layer whose gradient turned exactly 0 has not recovered."""

import pytest
from helpers import finding
from records import make_record

from keras_trainwatch.cli.report import findings_table
from keras_trainwatch.records import recovered
from keras_trainwatch.tensorboard.reader import read_runs
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter
from keras_trainwatch.watch.ledger import FindingLedger

pytestmark = pytest.mark.backends


def test_each_episode_is_read_back_with_its_own_end(tmp_path):
    ledger = FindingLedger()
    writer = ProbeSummaryWriter(tmp_path / "gradient_watch")

    def probe(step, found):
        update = ledger.update(found, epoch=step // 10, step=step)
        writer.write_findings(update.new + update.returned)
        writer.write_resolved(update.resolved)

    probe(0, [finding(layer="h1", step=0)])
    probe(10, [])  # ended
    probe(20, [finding(layer="h1", step=20)])  # back: a second episode
    probe(30, [finding(layer="h1", step=30)])  # lasting
    writer.close()
    [run] = read_runs(tmp_path)
    episodes = [(f.step, f.resolved_step, f.episodes) for f in run.findings]
    assert episodes == [(0, 10, 1), (20, None, 2)]
    table = findings_table([run])
    assert "step 10" in table and "lasting" in table


def test_a_layer_with_no_usable_gradient_has_not_recovered():
    zero = make_record([("h1", 0.0, 1.0), ("h2", 1.0, 1.0)])
    nan = make_record([("h1", float("nan"), 1.0, 3)])
    assert not recovered(zero, "h1")
    assert recovered(zero, "h2")
    assert not recovered(nan, "h1")
    assert recovered(zero, None)
    assert recovered(zero, "relu_activation_layer")  # not a weight layer


@pytest.mark.fast
def test_a_finding_that_turned_worse_stays_active():
    ledger = FindingLedger()
    ledger.update([finding("vanishing_gradients", "h1")], 0, 0)
    update = ledger.update([], 0, 10, recovered=lambda f: False)
    assert update.resolved == [] and ledger.findings[0].active
    update = ledger.update([], 0, 20)
    assert [f.resolved_step for f in update.resolved] == [20]


def test_nothing_measured_is_none_and_shown_as_a_dash(tmp_path):
    writer = ProbeSummaryWriter(tmp_path)
    writer.write_findings(
        [finding("missing_activation", "d", value=None, threshold=None)]
    )
    writer.close()
    [run] = read_runs(tmp_path)
    [found] = run.findings
    assert (found.value, found.threshold) == (None, None)
    row = findings_table([run]).splitlines()[2]
    assert "\u2013" in row and "0.0" not in row


@pytest.mark.fast
def test_a_spike_is_not_resolved_by_the_probe_at_its_own_step():
    ledger = FindingLedger()
    ledger.sighted([finding("loss_spike", None, step=3)])
    assert ledger.update([], 0, 3).resolved == []
    assert [f.resolved_step for f in ledger.update([], 0, 10).resolved] == [10]
