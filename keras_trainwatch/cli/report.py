"""`trainwatch report`: the findings of watched runs as a table, and a
gradient-flow chart."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_trainwatch.tensorboard.flow import run_view
from keras_trainwatch.tensorboard.reader import WatchedRun


def findings_table(runs: Sequence[WatchedRun]) -> str:
    """A plain-text table of the findings of each run, then the remedies:
    one row per episode (a finding that came back has a row for each
    stretch of probes that showed it), its epoch (1-based, as Keras counts
    them) and step where the episode began, and the step it ended at, or
    "lasting".

    Args:
        runs: From `read_runs`.

    Returns:
        The table as text.
    """
    if not runs:
        return "No GradientWatch runs found (no 'gradient_watch' folders with event files)."
    header = (
        "run",
        "finding",
        "layer",
        "epoch",
        "step",
        "value",
        "of",
        "ended",
    )
    rows = []
    remedies = {}
    for run in runs:
        if not run.findings:
            rows.append((run.name, "none", "", "", "", "", "", ""))
        for f in run.findings:
            rows.append(
                (
                    run.name,
                    f.kind,
                    f.layer or "(loss)",
                    str(f.epoch + 1),
                    str(f.step),
                    "\u2013"
                    if f.value is None
                    else f"{f.value:.3g}",  # en dash
                    f.measure or "",
                    "lasting"
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
    """Writes the gradient flow of each run as a PNG: the dashboard's
    heatmap of log10 |g|/|w| (layers top to bottom in model order, probes
    left to right; NaN/inf cells marked with a red cross, exact zeros
    black), the dead-fraction heatmap of the ReLU layers (or a note that
    there are none), and, for models of up to 12 layers, the per-layer
    gradient norms as lines. Findings are marked on the step axis.

    Needs matplotlib (the `plot` extra; `run_demo.sh` installs it).

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
    views = [run_view(run) for run in runs]
    height = [max(3.2, 0.16 * len(v["layers"]) + 1.6) for v in views]
    figure, axes = plt.subplots(
        len(runs),
        3,
        figsize=(19, sum(height)),
        squeeze=False,
        gridspec_kw={"height_ratios": height, "width_ratios": [5, 4, 5]},
    )
    for run, view, (flow, dead, lines) in zip(runs, views, axes):
        _heatmap(figure, flow, view, "relative_grad", "layers", log=True)
        flow.set_title(f"{run.name}: log10 |g|/|w| per layer and probe")
        if view["dead_layers"]:
            # Only dead-ReLU findings belong on the dead-unit map.
            dead_view = dict(
                view,
                findings=[
                    f for f in view["findings"] if f["kind"] == "dead_relu"
                ],
            )
            _heatmap(
                figure,
                dead,
                dead_view,
                "dead_fraction",
                "dead_layers",
                log=False,
            )
            dead.set_title(f"{run.name}: dead ReLU share")
        else:
            dead.axis("off")
            dead.text(
                0.5,
                0.5,
                "no ReLU layers: nothing can die",
                ha="center",
                va="center",
                transform=dead.transAxes,
            )
        _lines(lines, run, view)
    _legend(figure, views)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)


_KIND_COLOURS = {
    "vanishing_gradients": "#1565c0",
    "exploding_gradients": "#c62828",
    "dead_relu": "#2e7d32",
    "loss_spike": "#6a1b9a",
    "saturated_units": "#ef6c00",
    "symmetric_units": "#00838f",
    "no_gradient": "#37474f",
    "unscaled_data": "#5d4037",
    "mismatched_output": "#ad1457",
    "missing_activation": "#9e9d24",
    "excessive_dropout": "#4527a0",
}


def _heatmap(figure, axis, view, field, rows_field, log):
    import numpy as np

    names, steps = view[rows_field], view["steps"]
    values = np.full((len(names), len(steps)), np.nan)
    nonfinite, zero = [], []
    for i, row in enumerate(view[field]):
        for j, cell in enumerate(row):
            if isinstance(cell, str):
                nonfinite.append((j, i))
            elif cell is not None and log and cell <= 0:
                zero.append((j, i))
            elif cell is not None:
                values[i, j] = np.log10(cell) if log else cell
    # The dashboard's fixed scale: the same colour means the same |g|/|w|
    # in every run and model.
    scale = view["scale"]
    image = axis.imshow(
        np.ma.masked_invalid(values),
        aspect="auto",
        interpolation="nearest",
        cmap="plasma",
        vmin=scale["low"] if log else 0.0,
        vmax=scale["high"] if log else 1.0,
    )
    axis.set_facecolor("#eeeeee")  # not measured
    for cells, style in (
        (zero, {"marker": "s", "color": "black"}),
        (nonfinite, {"marker": "x", "color": "red"}),
    ):
        if cells:
            xs, ys = zip(*cells)
            axis.scatter(xs, ys, s=18, linewidths=1.5, **style)
    every = max(1, len(names) // 40)
    axis.set_yticks(range(0, len(names), every))
    axis.set_yticklabels(names[::every], fontsize=7)
    ticks = range(0, len(steps), max(1, len(steps) // 12))
    axis.set_xticks(list(ticks))
    axis.set_xticklabels([str(steps[t]) for t in ticks], fontsize=7)
    axis.set_xlabel("training step of the probe")
    for finding in view["findings"]:
        if finding["step"] in steps and finding["layer"] in names:
            axis.scatter(
                steps.index(finding["step"]),
                names.index(finding["layer"]),
                s=90,
                facecolors="none",
                edgecolors=_KIND_COLOURS.get(finding["kind"], "white"),
                linewidths=2,
            )
    bar = figure.colorbar(image, ax=axis, fraction=0.04, pad=0.02)
    if log:
        for mark in scale["marks"]:
            bar.ax.axhline(mark["at"], color="white", linewidth=1.5)
        bar.set_label(
            "log10 |g|/|w| (lines: "
            + ", ".join(f"{m['at']:g}" for m in scale["marks"])
            + ")",
            fontsize=7,
        )


def _legend(figure, views):
    """What the circles on the heatmaps and the dashed lines of the gradient
    norms mean: a finding of each kind shown, at its probe."""
    from matplotlib.lines import Line2D

    kinds = sorted({f["kind"] for v in views for f in v["findings"]})
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            markerfacecolor="none",
            linestyle="--",
            color=_KIND_COLOURS.get(kind, "grey"),
            label=f"{kind} (circle: its layer and probe; dashed: its step)",
        )
        for kind in kinds
    ]
    handles += [
        Line2D(
            [], [], marker="s", color="black", linestyle="", label="exactly 0"
        ),
        Line2D(
            [], [], marker="x", color="red", linestyle="", label="NaN or inf"
        ),
    ]
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=3,
        fontsize="small",
        frameon=False,
    )


def _lines(axis, run, view):
    series = run.series("grad_norm")
    if not series or len(series) > 12:
        axis.axis("off")
        axis.text(
            0.5,
            0.5,
            f"{len(view['layers'])} layers: see the heatmap",
            ha="center",
            va="center",
            transform=axis.transAxes,
        )
        return
    colours = __import__("matplotlib").colormaps["tab20"].colors
    for index, layer in enumerate(view["layers"]):
        points = [
            (s, v)
            for s, v in series.get(layer, [])
            if v > 0 and not math.isnan(v)
        ]
        if points:
            steps, values = zip(*points)
            axis.plot(
                steps,
                values,
                marker=".",
                label=layer,
                color=colours[index % len(colours)],
            )
    axis.set_yscale("log")
    for text, test, colour in (
        ("non-finite (NaN/inf)", lambda c: isinstance(c, str), "red"),
        ("exactly 0", lambda c: c == 0, "black"),
    ):
        columns = [
            j
            for row in view["relative_grad"]
            for j, cell in enumerate(row)
            if test(cell)
        ]
        if columns:
            first = view["steps"][min(columns)]
            axis.axvspan(first, view["steps"][-1], color=colour, alpha=0.08)
            axis.text(
                first,
                1.0,
                f" {text} from step {first}",
                color=colour,
                fontsize=8,
                va="bottom",
                transform=axis.get_xaxis_transform(),
            )
    axis.set_title(f"{run.name}: gradient norm |g| per layer", pad=14)
    axis.set_xlabel("training step")
    for finding in view["findings"]:
        axis.axvline(
            finding["step"],
            color=_KIND_COLOURS.get(finding["kind"], "black"),
            alpha=0.6,
            linestyle="--",
            linewidth=1.2,
        )
    if axis.get_legend_handles_labels()[0]:
        axis.legend(
            fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0)
        )
