"""The names the watch writes under, shared by the writer and the reader."""

from __future__ import annotations

from tensorboard.plugins.custom_scalar import layout_pb2

RUN_NAME = "gradient_watch"
FINDINGS_TAG = "findings"
RESOLVED_TAG = "findings/resolved"
REDUCTIONS_TAG = "learning_rate/reductions"
LAYER_ORDER_TAG = "layer_order"
FINDING_COLUMNS = (
    "kind",
    "layer",
    "epoch",
    "step",
    "value",
    "threshold",
    "measure",
    "message",
    "remedy",
    "episodes",
)

# (chart title, tag prefix): one multi-line chart per per-layer series.
CHARTS = (
    ("Gradient norm per layer |g|", "grad_norm"),
    ("Relative gradient per layer |g|/|w|", "relative_grad"),
    ("Dead ReLU fraction per layer", "dead_fraction"),
    ("Weight norm per layer |w|", "weight_norm"),
    ("Learning rate", "learning_rate"),
    ("Probe loss and global gradient norm", "probe"),
)


def histogram_tag(variable_name: str) -> str:
    """The histogram tag of a variable's gradient."""
    return f"gradients/{variable_name}"


LEARNING_RATE_PREFIX = "learning_rate"


def dashboard_layout(learning_rate: bool = False) -> layout_pb2.Layout:
    """The custom-scalars layout: a "keras_trainwatch" category with one
    multi-line chart per per-layer series, and the learning-rate chart only
    once there are learning rates to show (an `AutoLRReducer` runs)."""
    charts = [
        layout_pb2.Chart(
            title=title,
            multiline=layout_pb2.MultilineChartContent(tag=[rf"^{prefix}/"]),
        )
        for title, prefix in CHARTS
        if learning_rate or prefix != LEARNING_RATE_PREFIX
    ]
    return layout_pb2.Layout(
        category=[layout_pb2.Category(title="keras_trainwatch", chart=charts)]
    )
