"""The gradient flow of a watched run as plain tables: what the dashboard
and `trainwatch report --plot` draw, computed in one place."""

from __future__ import annotations

import math

from keras_trainwatch.tensorboard.reader import WatchedRun

# One colour scale for |g|/|w| in every run and model (log10 units), so that
# a healthy run and a broken one look different at a glance; values beyond
# it take the colour of its end. The healthy runs of the benchmarks sit
# within 1e-4..1e0 (docs/benchmarks/pathology_suite.md, real_models.md).
RELATIVE_GRAD_SCALE = {
    "low": -8.0,
    "high": 1.0,
    "marks": [
        {"at": -4.0, "label": "vanishing limit"},
        {"at": 0.0, "label": "|g| = |w|"},
    ],
}


def run_view(run: WatchedRun) -> dict:
    """What the dashboard draws for one run, as JSON-able values.

    Returns:
        `{"steps", "layers", "relative_grad", "scale", "dead_layers",
        "dead_fraction", "findings", "reductions"}`: `relative_grad[i][j]`
        is layer `i` at step `j` (`None` where not measured, the strings
        `"nan"`/`"inf"` for non-finite values), drawn on the fixed `scale`
        (`RELATIVE_GRAD_SCALE`); likewise `dead_fraction` for the ReLU
        layers, a share from 0 to 1.
    """
    relative = run.series("relative_grad")
    dead = run.series("dead_fraction")
    layers = [name for name in run.layers if name in relative] or sorted(
        relative
    )
    steps = sorted({step for points in relative.values() for step, _ in points})

    def matrix(series, names):
        rows = []
        for name in names:
            by_step = dict(series.get(name, []))
            rows.append([_cell(by_step.get(step)) for step in steps])
        return rows

    dead_layers = [name for name in layers if name in dead] + sorted(
        set(dead) - set(layers)
    )
    # Where the probe's loss is not finite, no share of units is "alive" or
    # "dead" (NaN weights output NaN, which reads as 0 dead): NaN there too.
    broken = {
        step
        for step, loss in run.series("probe").get("loss", [])
        if not math.isfinite(loss)
    }
    for name in dead_layers:
        dead[name] = [
            (step, math.nan if step in broken else value)
            for step, value in dead.get(name, [])
        ]
    return {
        "run": run.name,
        "steps": steps,
        "layers": layers,
        "relative_grad": matrix(relative, layers),
        "scale": RELATIVE_GRAD_SCALE,
        "dead_layers": dead_layers,
        "dead_fraction": matrix(dead, dead_layers),
        "findings": [
            {
                "kind": f.kind,
                "layer": f.layer,
                "step": f.step,
                "value": _cell(f.value),
                "measure": f.measure,
                "resolved_step": f.resolved_step,
                "message": f.message,
                "remedy": f.remedy,
            }
            for f in run.findings
        ],
        "reductions": [
            {"step": step, "text": text} for step, text in run.reductions
        ],
    }


def _cell(value):
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value
