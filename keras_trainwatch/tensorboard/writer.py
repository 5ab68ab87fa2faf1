"""Writing what the watch sees as TensorBoard summaries.

Everything goes through TensorBoard's own event writer and summary protos
(no TensorFlow needed, so it writes the same files on every Keras backend)
into its own run folder
(`<log_dir>/gradient_watch`), next to the `train` and `validation` runs of
Keras's own `TensorBoard` callback when both share a `log_dir`. The x axis is
the global training step. A custom-scalars layout groups the per-layer
series into one multi-line chart each.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.custom_scalar import (
    metadata as custom_scalar_metadata,
)
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from keras_trainwatch.findings import Finding
from keras_trainwatch.records import ProbeRecord
from keras_trainwatch.tensorboard.tags import (
    FINDING_COLUMNS,
    FINDINGS_TAG,
    LAYER_ORDER_TAG,
    REDUCTIONS_TAG,
    RESOLVED_TAG,
    RUN_NAME,
    dashboard_layout,
    histogram_tag,
)


class ProbeSummaryWriter:
    """Writes probe records, gradient histograms, findings and learning
    rates for one watched training run.

    The event file is opened at construction and closed by `close()` (the
    watch opens one at the start of each `fit` and closes it at the end).

    Args:
        log_dir: The TensorBoard log directory; summaries go to
            `<log_dir>/gradient_watch`.

    Example:

    ```python
    writer = ProbeSummaryWriter("logs")
    writer.write_record(record)
    writer.write_findings([finding])
    ```
    """

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = os.fspath(log_dir)
        self.run_dir = os.path.join(self.log_dir, RUN_NAME)
        os.makedirs(self.run_dir, exist_ok=True)
        # The suffix TensorFlow's summary writer gives its files.
        self._writer = EventFileWriter(self.run_dir, filename_suffix=".v2")
        self._layer_order_written = False
        self._layout_has_learning_rate = False
        self._write_layout(step=0)

    def _write_layout(self, step):
        # What `custom_scalar.summary.pb` builds, without the TensorFlow it
        # imports for it.
        summary = summary_pb2.Summary()
        summary.value.add(
            tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
            metadata=custom_scalar_metadata.create_summary_metadata(),
            tensor=tensor_util.make_tensor_proto(
                dashboard_layout(
                    self._layout_has_learning_rate
                ).SerializeToString(),
                dtype=np.object_,
            ),
        )
        self._add(summary, step)

    def _add(self, summary: summary_pb2.Summary, step: int) -> None:
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=step, summary=summary)
        )

    def _add_scalars(self, scalars: dict[str, float], step: int) -> None:
        summary = summary_pb2.Summary()
        for tag, value in scalars.items():
            summary.value.extend(scalar_pb(tag, value).value)
        self._add(summary, step)

    def write_histograms(
        self, names: Sequence[str], histograms: np.ndarray, step: int
    ) -> None:
        """Writes one gradient histogram per variable.

        Args:
            names: Variable names.
            histograms: `[variables, bins, 3]` buckets
                (`[left_edge, right_edge, count]` rows), bucketed on the
                device by the probe.
            step: Global training step.
        """
        metadata = histogram_metadata.create_summary_metadata(
            display_name=None, description=None
        )
        summary = summary_pb2.Summary()
        for name, buckets in zip(names, histograms):
            summary.value.add(
                tag=histogram_tag(name),
                metadata=metadata,
                tensor=tensor_util.make_tensor_proto(
                    np.asarray(buckets, np.float64)
                ),
            )
        self._add(summary, step)

    def write_record(self, record: ProbeRecord) -> None:
        """Writes the scalars of one probe.

        Args:
            record: What the probe measured.
        """
        if not self._layer_order_written:
            # The model's order (input to output), for the dashboard's rows.
            self.write_text(
                LAYER_ORDER_TAG,
                json.dumps([layer.name for layer in record.layers]),
                record.step,
            )
            self._layer_order_written = True
        scalars = {
            "probe/loss": record.loss,
            "probe/grad_norm": record.grad_norm,
        }
        for layer in record.layers:
            scalars[f"grad_norm/{layer.name}"] = layer.grad_norm
            scalars[f"relative_grad/{layer.name}"] = layer.relative_grad
            scalars[f"weight_norm/{layer.name}"] = layer.weight_norm
        for dead in record.dead_units:
            scalars[f"dead_fraction/{dead.name}"] = dead.dead_fraction
        self._add_scalars(scalars, record.step)
        self._writer.flush()

    def write_findings(self, findings: Iterable[Finding]) -> None:
        """Writes the findings first seen (or seen again after being
        resolved) at one probe as one table (a header row, then a row per
        finding), with their remedies: one row per episode, at the step it
        began.

        Args:
            findings: Findings of one probe (same step).
        """
        episodes = [f.episode() for f in findings]
        self._write_table(FINDINGS_TAG, FINDING_COLUMNS, episodes, "step")

    def write_resolved(self, findings: Iterable[Finding]) -> None:
        """Writes the episodes one probe ended, as a table like the
        findings table (each row at the step its episode began) with a
        `resolved_step` column, at that step.

        Args:
            findings: Findings resolved at one probe.
        """
        columns = FINDING_COLUMNS + ("resolved_step",)
        episodes = [f.episode() for f in findings]
        self._write_table(RESOLVED_TAG, columns, episodes, "resolved_step")

    def _write_table(self, tag, columns, findings, step_field):
        findings = list(findings)
        if not findings:
            return
        rows = [columns] + [
            tuple(_cell(getattr(f, column)) for column in columns)
            for f in findings
        ]
        self._add(
            text_pb(tag, np.array(rows, dtype=object)),
            getattr(findings[0], step_field),
        )
        self._writer.flush()

    def write_reduction(self, reduction) -> None:
        """Writes one learning-rate reduction (a `Reduction`) as a text
        entry at its step."""
        text = (
            f"epoch {reduction.epoch}, step {reduction.step}: "
            f"{reduction.optimizer} {reduction.old_lr:g} -> "
            f"{reduction.new_lr:g} ({reduction.reason})"
        )
        self.write_text(REDUCTIONS_TAG, text, reduction.step)

    def write_learning_rates(self, rates: dict[str, float], step: int) -> None:
        """Writes each optimizer's learning rate (name -> rate) at `step`."""
        if not self._layout_has_learning_rate:
            # Now there is something to chart: the layout gets the chart.
            self._layout_has_learning_rate = True
            self._write_layout(step=step)
        self._add_scalars(
            {f"learning_rate/{name}": rate for name, rate in rates.items()},
            step,
        )
        self._writer.flush()

    def write_text(self, tag: str, text: str, step: int) -> None:
        """Writes one text entry (Markdown) and flushes."""
        self._add(text_pb(tag, text), step)
        self._writer.flush()

    def flush(self) -> None:
        """Writes pending summaries to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._writer.close()


def _cell(value) -> str:
    return "" if value is None else str(value)
