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
