"""The watch's summary in Keras's `logs` dict (and so in the progress bar,
`History` and every callback after it)."""

from __future__ import annotations

from keras_trainwatch.records import ProbeRecord
from keras_trainwatch.watch.ledger import FindingLedger

LOG_PREFIX = "gradient_watch/"

# What `GradientWatch(logs=...)` puts into the logs dict: Keras's progress
# bar shows every entry, so the default is one short column.
LOGS_MODES = ("findings", "full", None)


def summary_logs(
    record: ProbeRecord, ledger: FindingLedger, mode: str | None = "full"
) -> dict:
    """The latest probe's summary, as put into the `logs` dict.

    Args:
        record: The latest probe's record.
        ledger: The run's findings.

        mode: `"findings"`: only `gradient_watch/active_findings`; `"full"`:
            all five keys below; `None`: nothing.

    Returns:
        A dict with keys `gradient_watch/grad_norm` (global gradient
        norm), `gradient_watch/min_relative_grad` (the smallest per-layer
        |g|/|w|), `gradient_watch/max_dead_fraction`,
        `gradient_watch/findings` (findings so far) and
        `gradient_watch/active_findings` (those the latest probe showed).
    """
    if mode is None:
        return {}
    if mode == "findings":
        return {f"{LOG_PREFIX}active_findings": float(len(ledger.active))}
    relative = [layer.relative_grad for layer in record.layers]
    return {
        f"{LOG_PREFIX}grad_norm": record.grad_norm,
        f"{LOG_PREFIX}min_relative_grad": min(relative, default=0.0),
        f"{LOG_PREFIX}max_dead_fraction": record.max_dead_fraction,
        f"{LOG_PREFIX}findings": float(len(ledger.findings)),
        f"{LOG_PREFIX}active_findings": float(len(ledger.active)),
    }
