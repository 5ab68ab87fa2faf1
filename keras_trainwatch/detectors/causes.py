"""Linking symptoms to the causes that explain them, so that a report
says the cause first instead of the symptom alone."""

from __future__ import annotations

import dataclasses

from keras_trainwatch._validation import open_range
from keras_trainwatch.detectors.base import make_finding
from keras_trainwatch.detectors.no_gradient import blocks_every_gradient
from keras_trainwatch.findings import (
    DEAD_RELU,
    EXPLODING_GRADIENTS,
    LOSS_NOT_IMPROVING,
    LOSS_OSCILLATING,
    LOSS_SPIKE,
    MISMATCHED_OUTPUT,
    NO_GRADIENT,
    SATURATED_UNITS,
    UNSCALED_DATA,
    VANISHING_GRADIENTS,
    Finding,
    FindingKind,
)
from keras_trainwatch.records import ProbeRecord

# What regression targets far from unit scale do: huge errors, so huge
# gradients anywhere, and a loss that jumps or stalls.
TARGET_SCALE_SYMPTOMS = frozenset(
    {
        EXPLODING_GRADIENTS,
        DEAD_RELU,
        SATURATED_UNITS,
        VANISHING_GRADIENTS,
        LOSS_NOT_IMPROVING,
        LOSS_OSCILLATING,
        LOSS_SPIKE,
    }
)

# What inputs far from unit scale do to the layers that read them.
INPUT_SCALE_SYMPTOMS = frozenset({DEAD_RELU, SATURATED_UNITS})


class CauseLinker:
    """Puts causes before the symptoms they explain.

    - No gradient at all: dead units and vanishing gradients are its
      consequences and are dropped (also at a first such probe, before a
      second one confirms the `no_gradient` finding); an output that cannot
      vary (softmax over one unit) is named as its cause.
    - Saturated sigmoid/tanh units are named as the likely cause of the
      vanishing gradients of the same probe.
    - Data far from unit scale is not a fault on its own (`keras.applications`
      models take pixels in 0-255 and train fine), but when a probe shows a
      symptom it produces, an `unscaled_data` finding comes first and the
      symptoms name it: inputs with an RMS above `max_data_scale` when the
      layer that reads them directly has dead or saturated units (past a
      normalization layer the input scale is gone, so symptoms further up
      are not its doing), or, for a regression loss, targets with an RMS
      above it and any symptom of too large errors.

    Args:
        regression: Whether the model's loss is a regression loss.
        max_data_scale: Positive float, default 5: an RMS this many times
            unit scale is far from it (standardized data has RMS 1, pixels
            in [0, 1] about 0.5).

    Example:

    ```python
    linker = CauseLinker(regression=True)
    findings = linker(findings, record)
    ```
    """

    def __init__(self, regression: bool = False, max_data_scale: float = 5.0):
        self.regression = regression
        self.max_data_scale = open_range(
            "max_data_scale", max_data_scale, 0.0, float("inf")
        )

    def __call__(
        self, findings: list[Finding], record: ProbeRecord
    ) -> list[Finding]:
        findings = _explain_no_gradient(findings, record)
        findings = _explain_vanishing(findings)
        return self._explain_by_scale(findings, record)

    def _explain_by_scale(self, findings, record):
        causes, explained = [], {}
        reading = [layer.name for layer in record.layers if layer.reads_input]
        # Large inputs saturate or kill the units of the layers that read
        # them; past a normalization layer their scale is gone, so symptoms
        # further up are not theirs to explain.
        input_symptoms = [
            f
            for f in findings
            if f.kind in INPUT_SCALE_SYMPTOMS and f.layer in reading
        ]
        if input_symptoms and record.input_scale > self.max_data_scale:
            causes.append(
                make_finding(
                    UNSCALED_DATA,
                    record,
                    input_symptoms[0].layer,
                    record.input_scale,
                    self.max_data_scale,
                    f"Unscaled inputs: the probe batch's inputs have an RMS of "
                    f"{record.input_scale:.3g} (flagged above "
                    f"{self.max_data_scale:g}, unit scale is 1), read directly "
                    f"by layer '{input_symptoms[0].layer}'. They explain "
                    f"{_symptom_list(input_symptoms)}.",
                    measure="input RMS",
                )
            )
            explained.update({id(f): "unscaled inputs" for f in input_symptoms})
        target_symptoms = [
            f for f in findings if f.kind in TARGET_SCALE_SYMPTOMS
        ]
        target_scale = record.target_scale
        if (
            self.regression
            and target_symptoms
            and target_scale is not None
            and target_scale > self.max_data_scale
        ):
            causes.append(
                make_finding(
                    UNSCALED_DATA,
                    record,
                    None,
                    target_scale,
                    self.max_data_scale,
                    f"Unscaled regression targets: the probe batch's targets "
                    f"have an RMS of {target_scale:.3g} (flagged above "
                    f"{self.max_data_scale:g}), so the errors and gradients "
                    f"are that much larger. They explain "
                    f"{_symptom_list(target_symptoms)}.",
                    measure="target RMS",
                )
            )
            for f in target_symptoms:
                explained[id(f)] = " and ".join(
                    filter(None, [explained.get(id(f)), "unscaled targets"])
                )
        if not causes:
            return findings
        return causes + [
            _with_cause(f, explained[id(f)]) if id(f) in explained else f
            for f in findings
        ]


def _explain_no_gradient(findings, record):
    # Dead units and vanishing gradients are consequences of a blocked
    # probe, reported (folded into no_gradient) once two probes confirm it.
    if not blocks_every_gradient(record):
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


def _explain_vanishing(findings):
    saturated = [f.layer for f in findings if f.kind == SATURATED_UNITS]
    if not saturated:
        return findings
    named = "saturated units in " + ", ".join(f"'{s}'" for s in saturated)
    return [
        _with_cause(f, named) if f.kind == VANISHING_GRADIENTS else f
        for f in findings
    ]


def _with_cause(finding, cause):
    return dataclasses.replace(
        finding, message=f"{finding.message} Likely cause: {cause}."
    )


def _symptom_list(symptoms):
    kinds = []
    for f in symptoms:
        label = FindingKind(f.kind).title
        if label not in kinds:
            kinds.append(label)
    return ", ".join(kinds)
