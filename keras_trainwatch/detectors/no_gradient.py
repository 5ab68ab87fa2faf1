"""The no-gradient rule: nothing reaches any weight."""

from __future__ import annotations

import math
from collections.abc import Sequence

from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import NO_GRADIENT, Finding
from keras_trainwatch.records import ProbeRecord


class NoGradientDetector:
    """Finds a probe where no gradient reaches any weight: every gradient
    entry of every layer is exactly 0 while the loss is finite. Nothing can
    train; the layers did not die one by one, something blocks them all.

    Example:

    ```python
    findings = NoGradientDetector()(record, recent=[])
    ```
    """

    kind = NO_GRADIENT
    history_size = 0

    def __call__(
        self, record: ProbeRecord, recent: Sequence[ProbeRecord]
    ) -> list[Finding]:
        if (
            not record.layers
            or not math.isfinite(record.loss)
            or any(layer.grad_norm != 0 for layer in record.layers)
        ):
            return []
        return [
            make_finding(
                self.kind,
                record,
                None,
                0.0,
                0.0,
                f"No gradient reaches any weight: all {len(record.layers)} "
                f"layers get exactly 0 (probe loss {record.loss:.4g}), so "
                "nothing trains.",
            )
        ]
