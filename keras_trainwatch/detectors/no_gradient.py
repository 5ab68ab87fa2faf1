"""The no-gradient rule, and the causes that explain it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.findings import (
    DEAD_RELU,
    MISMATCHED_OUTPUT,
    NO_GRADIENT,
    VANISHING_GRADIENTS,
    Finding,
)
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


def link_causes(findings: list[Finding]) -> list[Finding]:
    """Says the cause first where one explains a symptom: with no gradient
    at all, dead units and vanishing gradients are its consequences, not
    findings of their own, and an output that cannot vary (softmax over one
    unit) is named as the reason."""
    if not any(f.kind == NO_GRADIENT for f in findings):
        return findings
    causes = [f for f in findings if f.kind == MISMATCHED_OUTPUT]
    linked = []
    for finding in findings:
        if finding.kind in (DEAD_RELU, VANISHING_GRADIENTS):
            continue
        if finding.kind == NO_GRADIENT and causes:
            finding = dataclasses.replace(
                finding,
                message=f"{finding.message} Cause: {causes[0].message}",
                remedy=causes[0].remedy,
            )
        linked.append(finding)
    return linked
