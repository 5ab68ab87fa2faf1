"""The no-gradient rule: nothing reaches any weight."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import NO_GRADIENT, Finding
from keras_trainwatch.records import ProbeRecord


class NoGradientDetector:
    """Finds probes where no gradient reaches any weight: every gradient
    entry of every layer is exactly 0 while the loss is finite. Nothing can
    train; the layers did not die one by one, something blocks them all.

    One probe is not enough: the probe batch can differ from the training
    batches (a ReLU output that is 0 for every probe sample at
    initialization, but not for the batches that train). So the finding
    needs two probes in a row without any gradient and with the same probe
    loss: had a training batch moved the weights, the loss would have
    moved.

    Example:

    ```python
    findings = NoGradientDetector()(record, recent=[])
    ```
    """

    kinds = (NO_GRADIENT,)
    history_size = 1

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        if not (
            blocks_every_gradient(record)
            and recent
            and blocks_every_gradient(recent[-1])
            and math.isclose(recent[-1].loss, record.loss, rel_tol=1e-6)
        ):
            return []
        return [
            make_finding(
                NO_GRADIENT,
                record,
                None,
                0.0,
                0.0,
                f"No gradient reaches any weight: all {len(record.layers)} "
                f"layers get exactly 0 (probe loss {record.loss:.4g}), so "
                "nothing trains.",
                measure="largest gradient norm",
            )
        ]


def blocks_every_gradient(record: ProbeRecord) -> bool:
    """Whether no gradient reached any weight at the probe of `record`."""
    return (
        bool(record.layers)
        and math.isfinite(record.loss)
        and all(layer.grad_norm == 0 for layer in record.layers)
    )
