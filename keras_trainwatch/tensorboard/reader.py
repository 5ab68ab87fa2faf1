"""Reading what GradientWatch wrote, with TensorBoard's own event reader."""

from __future__ import annotations

import dataclasses
import json
import os

from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)
from tensorboard.util import tensor_util

from keras_trainwatch.findings import Finding
from keras_trainwatch.tensorboard.tags import (
    FINDINGS_TAG,
    LAYER_ORDER_TAG,
    REDUCTIONS_TAG,
    RESOLVED_TAG,
    RUN_NAME,
)


@dataclasses.dataclass(frozen=True)
class WatchedRun:
    """What one `GradientWatch` run folder holds.

    Args:
        name: The training run: the path of the folder holding
            `gradient_watch`, relative to the log directory (`"."` if it is
            the log directory itself).
        path: The `gradient_watch` folder.
        findings: The findings, in the order they were first seen.
        scalars: Tag -> list of `(step, value)`, e.g. `"grad_norm/dense"`.
        layers: The watched layers in the model's order (input first).
        reductions: `(step, text)` of every learning-rate reduction or
            rollback, in order.
    """

    name: str
    path: str
    findings: tuple[Finding, ...]
    scalars: dict
    layers: tuple[str, ...] = ()
    reductions: tuple[tuple[int, str], ...] = ()

    def series(self, prefix: str) -> dict[str, list[tuple[int, float]]]:
        """The per-layer series under `prefix/`, keyed by layer name."""
        start = f"{prefix}/"
        return {
            tag[len(start) :]: points
            for tag, points in self.scalars.items()
            if tag.startswith(start)
        }


def read_runs(log_dir: str | os.PathLike) -> list[WatchedRun]:
    """Finds and reads every `gradient_watch` run below `log_dir`.

    Args:
        log_dir: A TensorBoard log directory.

    Returns:
        The runs, sorted by name.

    Raises:
        FileNotFoundError: If `log_dir` does not exist.
    """
    log_dir = os.fspath(log_dir)
    if not os.path.isdir(log_dir):
        raise FileNotFoundError(f"No such log directory: {log_dir}")
    runs = []
    for folder, _subfolders, files in os.walk(log_dir):
        if os.path.basename(folder) != RUN_NAME:
            continue
        if not any("tfevents" in f for f in files):
            continue
        name = os.path.relpath(os.path.dirname(folder), log_dir)
        runs.append(_read_run(name, folder))
    return sorted(runs, key=lambda run: run.name)


def _read_run(name, folder):
    events = EventAccumulator(folder, size_guidance={"tensors": 0})
    events.Reload()
    scalars, findings, resolved = {}, [], {}
    layers, reductions = [], []
    for tag in events.Tags()["tensors"]:
        for event in events.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if tag == LAYER_ORDER_TAG:
                for layer in json.loads(value.item().decode("utf-8")):
                    if layer not in layers:
                        layers.append(layer)
            elif tag == REDUCTIONS_TAG:
                reductions.append((event.step, value.item().decode("utf-8")))
            elif tag == FINDINGS_TAG:
                findings += [_finding(value[0], row) for row in value[1:]]
            elif tag == RESOLVED_TAG:
                for row in value[1:]:
                    finding = _finding(value[0], row)
                    resolved[(finding.key, finding.step)] = finding
            elif value.shape == () and value.dtype.kind == "f":
                scalars.setdefault(tag, []).append((event.step, float(value)))
    # Each row is an episode at the step it began; its end, if any, is the
    # resolved row of the same finding and start.
    findings = [resolved.get((f.key, f.step), f) for f in findings]
    findings.sort(key=lambda f: f.step)
    for points in scalars.values():
        points.sort()
    reductions.sort()
    return WatchedRun(
        name, folder, tuple(findings), scalars, tuple(layers), tuple(reductions)
    )


def _finding(header, row):
    """A `Finding` from a table row, by the table's own header (files
    written before a column was added lack it)."""
    columns = [c.decode("utf-8") for c in header]
    cells = dict(zip(columns, (c.decode("utf-8") for c in row)))
    resolved = cells.get("resolved_step") or None
    return Finding(
        kind=cells["kind"],
        layer=cells["layer"] or None,
        epoch=int(cells["epoch"]),
        step=int(cells["step"]),
        value=_number(cells["value"]),
        threshold=_number(cells["threshold"]),
        measure=cells.get("measure") or None,  # files before it: None
        message=cells["message"],
        remedy=cells["remedy"],
        resolved_step=None if resolved is None else int(resolved),
        episodes=int(cells.get("episodes") or 1),  # files before episodes: 1
    )


def _number(cell: str) -> float | None:
    """A table cell as a number; empty where nothing was measured."""
    return float(cell) if cell not in ("", "None") else None
