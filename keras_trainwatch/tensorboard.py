"""Writing what the watch sees as TensorBoard summaries.

Everything goes through TensorFlow's summary API into its own run folder
(`<log_dir>/gradient_watch`), next to the `train` and `validation` runs of
Keras's own `TensorBoard` callback when both share a `log_dir`. The x axis is
the global training step. A custom-scalars layout groups the per-layer
series into one multi-line chart each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

from keras_trainwatch.findings import Finding
from keras_trainwatch.stats import ProbeRecord

RUN_NAME = "gradient_watch"
FINDINGS_TAG = "findings"
FINDING_COLUMNS = (
    "kind",
    "layer",
    "epoch",
    "step",
    "value",
    "threshold",
    "message",
    "remedy",
)

# (chart title, tag prefix): one multi-line chart per per-layer series.
CHARTS = (
    ("Gradient norm per layer |g|", "grad_norm"),
    ("Relative gradient per layer |g|/|w|", "relative_grad"),
    ("Dead ReLU fraction per layer", "dead_fraction"),
    ("Weight norm per layer |w|", "weight_norm"),
    ("Recurrent layers: gradient at early / late steps", "time_gradient_ratio"),
    ("Learning rate", "learning_rate"),
    ("Probe loss and global gradient norm", "probe"),
)


def dashboard_layout() -> layout_pb2.Layout:
    """The custom-scalars layout: a "keras_trainwatch" category with one
    multi-line chart per per-layer series."""
    charts = [
        layout_pb2.Chart(
            title=title,
            multiline=layout_pb2.MultilineChartContent(tag=[rf"^{prefix}/"]),
        )
        for title, prefix in CHARTS
    ]
    return layout_pb2.Layout(
        category=[layout_pb2.Category(title="keras_trainwatch", chart=charts)]
    )


class ProbeSummaryWriter:
    """Writes probe records, gradient histograms, findings and learning
    rates for one watched training run.

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
        self._writer = tf.summary.create_file_writer(self.run_dir)
        with self._writer.as_default():
            tf.summary.experimental.write_raw_pb(
                custom_scalar_summary.pb(
                    dashboard_layout()
                ).SerializeToString(),
                step=0,
            )

    def write_gradient_histograms(
        self,
        names: Sequence[str],
        gradients: Sequence[tf.Tensor],
        step: tf.Tensor,
    ) -> None:
        """Writes one histogram per variable gradient.

        Meant to run inside the compiled probe (it is the probe's gradient
        hook), so the gradients are bucketed on the device and never copied
        whole to the host.

        Args:
            names: Variable names.
            gradients: Dense gradients, one per name.
            step: Global training step (int64 scalar tensor).
        """
        with self._writer.as_default():
            for name, gradient in zip(names, gradients):
                tf.summary.histogram(f"gradients/{name}", gradient, step=step)

    def write_record(self, record: ProbeRecord) -> None:
        """Writes the scalars of one probe.

        Args:
            record: What the probe measured.
        """
        with self._writer.as_default(step=record.step):
            tf.summary.scalar("probe/loss", record.loss)
            tf.summary.scalar("probe/grad_norm", record.grad_norm)
            for layer in record.layers:
                tf.summary.scalar(f"grad_norm/{layer.name}", layer.grad_norm)
                tf.summary.scalar(
                    f"relative_grad/{layer.name}", layer.relative_grad
                )
                tf.summary.scalar(
                    f"weight_norm/{layer.name}", layer.weight_norm
                )
            for dead in record.dead_units:
                tf.summary.scalar(
                    f"dead_fraction/{dead.name}", dead.dead_fraction
                )
        self._writer.flush()

    def write_findings(self, findings: Iterable[Finding]) -> None:
        """Writes the findings first seen at one probe as one table (a
        header row, then a row per finding), with their remedies.

        Args:
            findings: Findings first seen at one probe (same step).
        """
        findings = list(findings)
        if not findings:
            return
        rows = [FINDING_COLUMNS] + [
            tuple(str(getattr(f, column)) for column in FINDING_COLUMNS)
            for f in findings
        ]
        with self._writer.as_default(step=findings[0].step):
            tf.summary.text(
                FINDINGS_TAG, tf.constant(np.array(rows, dtype=object))
            )
        self._writer.flush()

    def write_text(self, tag: str, text: str, step: int) -> None:
        """Writes one text entry (Markdown) and flushes."""
        with self._writer.as_default(step=step):
            tf.summary.text(tag, text)
        self._writer.flush()

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        """Writes one scalar and flushes."""
        with self._writer.as_default(step=step):
            tf.summary.scalar(tag, value)
        self._writer.flush()

    def flush(self) -> None:
        """Writes pending summaries to disk."""
        self._writer.flush()
