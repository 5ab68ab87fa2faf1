"""The probe's statistics as named tensors on the device, and the record
they become on the host.

`reduce_to_statistics` turns a gradient pass into a `ProbeStatistics`: each
field one stacked tensor, so that adding a statistic is adding a field, read
by name on both sides. Only these small tensors leave the device, once per
probe, when `to_record` reads them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from keras import ops

from keras_trainwatch import _keras_compat
from keras_trainwatch._host import to_numpy
from keras_trainwatch.probe import reductions
from keras_trainwatch.probe.forward import GradientPassResult
from keras_trainwatch.probe.layer_parts import ReluLayer
from keras_trainwatch.probe.layout import ModelLayout
from keras_trainwatch.records import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    SaturationStats,
    TimeGradientStats,
    UnitSpreadStats,
    WeightStats,
)


class ProbeStatistics(NamedTuple):
    """What one probe measured, as tensors (one entry per watched variable,
    measured ReLU layer or recurrent layer, in layout order).

    Attributes:
        loss: Scalar loss, summed over replicas.
        grad_norms: `[variables]` L2 norms of the gradients.
        data_grad_norms: `[variables]` L2 norms of the gradients of the data
            loss alone (the regularizer's gradient subtracted; equal to
            `grad_norms` for variables without a regularizer).
        weight_norms: `[variables]` L2 norms of the variables.
        nonfinite: `[variables]` counts of non-finite gradient entries.
        dead_units: `[relu layers]` counts of dead units.
        time_measured: `[recurrent layers]` whether early/late was measured.
        time_steps: `[recurrent layers]` sequence lengths.
        early_grads: `[recurrent layers]` gradient at the first tenth.
        late_grads: `[recurrent layers]` gradient at the last tenth.
        histograms: `[variables, bins, 3]` gradient histograms, or
            `[0, bins, 3]` when not asked for.
        saturated: `[saturating layers]` shares of outputs in the flat tails.
        weight_spreads: `[kernel layers]` relative spreads of the units'
            weights.
        grad_spreads: `[kernel layers]` the same for their gradients.
    """

    loss: Any
    grad_norms: Any
    data_grad_norms: Any
    weight_norms: Any
    nonfinite: Any
    dead_units: Any
    time_measured: Any
    time_steps: Any
    early_grads: Any
    late_grads: Any
    histograms: Any
    saturated: Any
    weight_spreads: Any
    grad_spreads: Any


def measured_relus(
    layout: ModelLayout, connected: list[int]
) -> list[ReluLayer]:
    """The ReLU layers whose dead units are counted, in statistics order:
    those checked on their outputs, then those checked on the gradients of
    a kernel the loss reaches."""
    return list(layout.activation_relus) + [
        relu for relu in layout.gradient_relus if relu.kernel_index in connected
    ]


def reduce_to_statistics(
    result: GradientPassResult,
    layout: ModelLayout,
    connected: list[int],
    replicas: int,
    histograms: bool,
) -> ProbeStatistics:
    """Reduces one replica's gradient pass, summing over replicas where the
    whole batch is needed.

    Args:
        result: The replica's `GradientPassResult`.
        layout: The model's layout.
        connected: Indices of the variables the loss reaches.
        replicas: Number of replicas in sync.
        histograms: Whether to bucket each gradient for TensorBoard.

    Returns:
        The `ProbeStatistics`.
    """
    summed, weights = {}, {}
    for i in connected:
        grad, weight = reductions.gradient_and_weight(
            result.gradients[i], result.weights[i], replicas
        )
        summed[i], weights[i] = ops.cast(grad, "float32"), weight
    norms, nonfinite = reductions.norms_and_nonfinite_counts(
        [summed[i] for i in connected]
    )
    grad_norms = dict(zip(connected, norms))
    data_norms = dict(grad_norms)
    weight_norms = reductions.l2_norms([weights[i] for i in connected])
    for i in connected:
        regularizer_grad = result.regularization_gradients[i]
        if regularizer_grad is not None and not reductions.is_sparse(
            result.gradients[i]
        ):
            # The regularizer's gradient is the same on every replica, and
            # the summed gradient holds it once per replica.
            data_norms[i] = reductions.l2_norm(
                summed[i] - replicas * ops.cast(regularizer_grad, "float32")
            )
    dead_counts = _dead_units(result, layout, summed)
    kernels = kernel_layers_measured(layout, connected)
    time = [
        _early_and_late(recurrent, sequence, grad)
        for recurrent, sequence, grad in zip(
            layout.recurrent_layers, result.sequences, result.sequence_gradients
        )
    ]
    return ProbeStatistics(
        loss=reductions.sum_over_replicas(result.loss),
        grad_norms=_stack([grad_norms[i] for i in connected]),
        data_grad_norms=_stack([data_norms[i] for i in connected]),
        weight_norms=_stack(weight_norms),
        nonfinite=_stack(nonfinite),
        dead_units=_stack(dead_counts),
        time_measured=_stack([t[0] for t in time], "bool"),
        time_steps=_stack([t[1] for t in time]),
        early_grads=_stack([t[2] for t in time]),
        late_grads=_stack([t[3] for t in time]),
        histograms=ops.reshape(
            _stack(
                [reductions.histogram_buckets(summed[i]) for i in connected]
                if histograms
                else [],
            ),
            [-1, reductions.HISTOGRAM_BINS, 3],
        ),
        saturated=_stack(result.saturated),
        weight_spreads=_spreads(weights, kernels),
        grad_spreads=_spreads(summed, kernels),
    )


def to_record(
    values: ProbeStatistics,
    layout: ModelLayout,
    connected: list[int],
    epoch: int,
    step: int,
    input_scale: float = 1.0,
    target_scale: float | None = None,
) -> ProbeRecord:
    """The host-side `ProbeRecord` of statistics read as numpy arrays."""
    regularized = {
        i
        for i, v in enumerate(layout.variables)
        if getattr(v, "regularizer", None)
    }
    per_variable = {
        i: WeightStats(
            layout.variable_names[i],
            float(grad_norm),
            float(weight_norm),
            int(nonfinite),
            float(data_grad_norm) if i in regularized else None,
        )
        for i, grad_norm, data_grad_norm, weight_norm, nonfinite in zip(
            connected,
            values.grad_norms,
            values.data_grad_norms,
            values.weight_norms,
            values.nonfinite,
        )
    }
    layers = []
    for watched in layout.layers:
        stats = tuple(
            per_variable[i]
            for i in watched.variable_indices
            if i in per_variable
        )
        if stats:
            layers.append(LayerStats(weights=stats, **watched.description()))
    dead = tuple(
        DeadUnitStats(relu.name, int(count), relu.units, relu.source)
        for relu, count in zip(
            measured_relus(layout, connected), values.dead_units
        )
    )
    time_gradients = tuple(
        TimeGradientStats(
            recurrent.name,
            int(steps) if measured else None,
            float(early),
            float(late),
            gated=recurrent.gated,
        )
        for recurrent, measured, steps, early, late in zip(
            layout.recurrent_layers,
            values.time_measured,
            values.time_steps,
            values.early_grads,
            values.late_grads,
        )
    )
    saturation = tuple(
        SaturationStats(layer.name, layer.activation, float(share))
        for layer, share in zip(layout.saturating_layers, values.saturated)
    )
    unit_spread = tuple(
        UnitSpreadStats(
            layer.name, layer.units, float(weight_spread), float(grad_spread)
        )
        for layer, weight_spread, grad_spread in zip(
            kernel_layers_measured(layout, connected),
            values.weight_spreads,
            values.grad_spreads,
        )
    )
    return ProbeRecord(
        epoch,
        step,
        float(values.loss),
        tuple(layers),
        dead,
        time_gradients,
        input_scale=input_scale,
        target_scale=target_scale,
        saturation=saturation,
        unit_spread=unit_spread,
    )


def read(statistics: ProbeStatistics) -> ProbeStatistics:
    """The statistics as numpy arrays (TensorFlow's probe copies them to
    the host inside its function, so these reads wait for nothing; JAX's
    and PyTorch's engines read them their own way)."""
    return ProbeStatistics(*(to_numpy(t) for t in statistics))


def _dead_units(result, layout, summed):
    counts = list(result.dead_units)
    for relu in layout.gradient_relus:
        if relu.kernel_index in summed:
            counts.append(
                reductions.dead_units_from_gradients(
                    summed[relu.kernel_index], summed.get(relu.bias_index)
                )
            )
    return counts


def kernel_layers_measured(layout: ModelLayout, connected: list[int]):
    """The kernel layers whose unit spread is measured, in statistics
    order: those whose kernel (and bias) the loss reaches."""
    return [
        layer
        for layer in layout.kernel_layers
        if layer.kernel_index in connected
        and (layer.bias_index is None or layer.bias_index in connected)
    ]


def _spreads(tensors, layers):
    return reductions.unit_spreads(
        [
            (
                tensors[layer.kernel_index],
                None if layer.bias_index is None else tensors[layer.bias_index],
            )
            for layer in layers
        ]
    )


def _early_and_late(recurrent, sequence, grad):
    if grad is None or _keras_compat.keras_mask(sequence) is not None:
        # Not on the loss's path, or padded steps whose place differs from
        # sample to sample: no early/late comparison.
        zero = ops.zeros((), "float32")
        return ops.zeros((), "bool"), zero, zero, zero
    steps, early, late = reductions.early_and_late(grad, recurrent.backwards)
    return (ops.ones((), "bool"), steps, early, late)


def _stack(values, dtype="float32"):
    if not values:
        return ops.zeros([0], dtype)
    return ops.stack([ops.cast(v, dtype) for v in values])
