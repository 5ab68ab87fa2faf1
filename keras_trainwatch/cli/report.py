"""`trainwatch report`: the findings of watched runs as a table, and a
gradient-flow chart."""

from __future__ import annotations

from collections.abc import Sequence

from keras_trainwatch.tensorboard.reader import WatchedRun


def findings_table(runs: Sequence[WatchedRun]) -> str:
    """A plain-text table of the findings of each run, then the remedies.

    Args:
        runs: From `read_runs`.

    Returns:
        The table as text.
    """
    if not runs:
        return "No GradientWatch runs found (no 'gradient_watch' folders with event files)."
    header = ("run", "finding", "layer", "epoch", "step", "value", "resolved")
    rows = []
    remedies = {}
    for run in runs:
        if not run.findings:
            rows.append((run.name, "none", "", "", "", "", ""))
        for f in run.findings:
            rows.append(
                (
                    run.name,
                    f.kind,
                    f.layer or "(loss)",
                    str(f.epoch),
                    str(f.step),
                    f"{f.value:.3g}",
                    ""
                    if f.resolved_step is None
                    else f"step {f.resolved_step}",
                )
            )
            remedies[f.kind] = f.remedy
    widths = [
        max(len(r[i]) for r in rows + [header]) for i in range(len(header))
    ]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        for row in [header, tuple("-" * w for w in widths)] + rows
    ]
    if remedies:
        lines.append("")
        lines += [
            f"remedy for {kind}: {remedy}" for kind, remedy in remedies.items()
        ]
    return "\n".join(lines)


def plot_gradient_flow(runs: Sequence[WatchedRun], path: str) -> None:
    """Writes a gradient-flow chart: per run, the gradient norm of each
    layer over the training steps (log scale) and the dead ReLU fractions.

    Needs matplotlib (`pip install keras_trainwatch[plot]`).

    Args:
        runs: From `read_runs` (at least one).
        path: Output image path (e.g. `flow.png`).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise RuntimeError(
            "--plot needs matplotlib: in this checkout, run "
            "./scripts/setup_env.sh plot (or pip install matplotlib)"
        ) from error
    if not runs:
        raise ValueError(
            "There is nothing to plot: no GradientWatch runs found."
        )
    figure, axes = plt.subplots(
        len(runs), 2, figsize=(13, 3.6 * len(runs)), squeeze=False
    )
    for run, (flow, dead) in zip(runs, axes):
        for layer, points in run.series("grad_norm").items():
            steps, values = zip(*points)
            flow.plot(steps, values, marker=".", label=layer)
        flow.set_yscale("log")
        flow.set_title(f"{run.name}: gradient norm per layer")
        flow.set_xlabel("training step")
        flow.set_ylabel("|g|")
        for f in run.findings:
            flow.axvline(f.step, color="red", alpha=0.15)
        _legend(flow)
        for layer, points in run.series("dead_fraction").items():
            steps, values = zip(*points)
            dead.plot(steps, values, marker=".", label=layer)
        dead.set_ylim(-0.05, 1.05)
        dead.set_title(f"{run.name}: dead ReLU fraction")
        dead.set_xlabel("training step")
        _legend(dead)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _legend(axis):
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize="x-small", ncol=2, loc="best")
