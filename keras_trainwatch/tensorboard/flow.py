"""The gradient flow of a watched run as plain tables: what the dashboard
and `trainwatch report --plot` draw, computed in one place."""

from __future__ import annotations

import math

from keras_trainwatch.tensorboard.reader import WatchedRun


def run_view(run: WatchedRun) -> dict:
    """What the dashboard draws for one run, as JSON-able values.

    Returns:
        `{"steps", "layers", "relative_grad", "dead_layers", "dead_fraction",
        "findings", "reductions"}`: `relative_grad[i][j]` is layer `i` at
        step `j` (`None` where not measured, the strings `"nan"`/`"inf"` for
        non-finite values); likewise `dead_fraction` for the ReLU layers.
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
    return {
        "run": run.name,
        "steps": steps,
        "layers": layers,
        "relative_grad": matrix(relative, layers),
        "dead_layers": dead_layers,
        "dead_fraction": matrix(dead, dead_layers),
        "findings": [
            {
                "kind": f.kind,
                "layer": f.layer,
                "step": f.step,
                "value": _cell(f.value),
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
