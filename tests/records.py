"""Builders of ProbeRecords from plain numbers, for detector tests."""

from __future__ import annotations

from keras_trainwatch.records import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    WeightStats,
)


def make_record(
    layers=(),
    dead=(),
    loss=1.0,
    epoch=0,
    step=0,
    time_gradients=(),
    info=None,
    input_scale=1.0,
):
    """`layers`: (name, grad_norm, weight_norm[, nonfinite[, data_grad_norm]])
    from the input up; `dead`: (name, dead_units, units); `time_gradients`:
    TimeGradientStats; `info`: layer name -> LayerStats fields (kind,
    activation, normalization, reads_input)."""
    info = info or {}
    layer_stats = tuple(
        LayerStats(
            spec[0],
            (
                WeightStats(
                    f"{spec[0]}/kernel",
                    spec[1],
                    spec[2],
                    spec[3] if len(spec) > 3 else 0,
                    spec[4] if len(spec) > 4 else None,
                ),
            ),
            **info.get(spec[0], {}),
        )
        for spec in layers
    )
    dead_stats = tuple(
        DeadUnitStats(name, count, units, "activations")
        for name, count, units in dead
    )
    return ProbeRecord(
        epoch,
        step,
        loss,
        layer_stats,
        dead_stats,
        tuple(time_gradients),
        input_scale=input_scale,
    )
