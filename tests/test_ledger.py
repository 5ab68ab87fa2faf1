import keras_trainwatch as ktw
from keras_trainwatch.ledger import FindingLedger


def finding(layer="dense", step=0, value=0.6):
    return ktw.Finding(
        "dead_relu", layer, 0, step, value, 0.5, f"Dead units in {layer}."
    )


def test_ledger_returns_only_new_findings_and_updates_repeats():
    ledger = FindingLedger()
    assert ledger.add([finding("a"), finding("b")]) == [
        finding("a"),
        finding("b"),
    ]
    assert ledger.add([finding("a", step=5, value=0.9), finding("c")]) == [
        finding("c")
    ]
    assert [f.layer for f in ledger.findings] == ["a", "b", "c"]
    assert ledger.findings[0].occurrences == 2
    assert ledger.findings[0].last_value == 0.9


def test_ledger_keeps_one_entry_per_kind_and_layer_however_many_probes():
    ledger = FindingLedger()
    for step in range(1000):
        ledger.add([finding("a", step=step), finding("b", step=step)])
    assert len(ledger.findings) == 2
    assert ledger.findings[0].occurrences == 1000
    assert ledger.findings[0].last_step == 999


def test_update_tells_new_lasting_resolved_and_returned_findings():
    ledger = FindingLedger()
    first = ledger.update([finding("a"), finding("b")], epoch=0, step=0)
    assert [f.layer for f in first.new] == ["a", "b"]
    assert first.resolved == first.lasting == first.returned == []

    second = ledger.update([finding("a", step=10)], epoch=1, step=10)
    assert second.new == [] and [f.layer for f in second.lasting] == ["a"]
    [gone] = second.resolved
    assert (gone.layer, gone.resolved_step, gone.resolved_epoch) == ("b", 10, 1)
    assert [f.layer for f in ledger.active] == ["a"]

    third = ledger.update([finding("a", step=20), finding("b", step=20)], 2, 20)
    [back] = third.returned
    assert (back.layer, back.episodes, back.active) == ("b", 2, True)
    assert back.last_step == 20 and back.occurrences == 2
    assert sorted(f.layer for f in third.present) == ["a", "b"]

    fourth = ledger.update([], epoch=3, step=30)
    assert [f.layer for f in fourth.resolved] == ["a", "b"]
    assert ledger.active == []
