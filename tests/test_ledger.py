import pytest
from helpers import finding

from keras_trainwatch.watch.ledger import FindingLedger

pytestmark = pytest.mark.fast


def test_ledger_returns_only_new_findings_and_updates_repeats():
    ledger = FindingLedger()
    assert ledger.add([finding(layer="a"), finding(layer="b")]) == [
        finding(layer="a"),
        finding(layer="b"),
    ]
    assert ledger.add(
        [finding(layer="a", step=5, value=0.9), finding(layer="c")]
    ) == [finding(layer="c")]
    assert [f.layer for f in ledger.findings] == ["a", "b", "c"]
    assert ledger.findings[0].occurrences == 2
    assert ledger.findings[0].last_value == 0.9


def test_ledger_keeps_one_entry_per_kind_and_layer_however_many_probes():
    ledger = FindingLedger()
    for step in range(1000):
        ledger.add(
            [finding(layer="a", step=step), finding(layer="b", step=step)]
        )
    assert len(ledger.findings) == 2
    assert ledger.findings[0].occurrences == 1000
    assert ledger.findings[0].last_step == 999


def test_update_tells_new_lasting_resolved_and_returned_findings():
    ledger = FindingLedger()
    first = ledger.update(
        [finding(layer="a"), finding(layer="b")], epoch=0, step=0
    )
    assert [f.layer for f in first.new] == ["a", "b"]
    assert first.resolved == first.lasting == first.returned == []

    second = ledger.update([finding(layer="a", step=10)], epoch=1, step=10)
    assert second.new == [] and [f.layer for f in second.lasting] == ["a"]
    [gone] = second.resolved
    assert (gone.layer, gone.resolved_step, gone.resolved_epoch) == ("b", 10, 1)
    assert [f.layer for f in ledger.active] == ["a"]

    third = ledger.update(
        [finding(layer="a", step=20), finding(layer="b", step=20)], 2, 20
    )
    [back] = third.returned
    assert (back.layer, back.episodes, back.active) == ("b", 2, True)
    assert back.last_step == 20 and back.occurrences == 2
    assert sorted(f.layer for f in third.present) == ["a", "b"]

    fourth = ledger.update([], epoch=3, step=30)
    assert [f.layer for f in fourth.resolved] == ["a", "b"]
    assert ledger.active == []
