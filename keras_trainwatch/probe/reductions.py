"""Reductions the probe applies to gradients and activations, on the
device, in `keras.ops` (so the same code reduces on every backend, with
static shapes, so that it compiles under `jax.jit`).

On TensorFlow, in a replica context, the parts that need the whole batch
are summed over the replicas (`all_reduce`) before they are reduced
further, and `Embedding`'s sparse gradients keep only their touched rows.
Per-variable statistics stack the small tensors of one shape and reduce
them together (`reduce_each`), so that a model's hundreds of biases and
normalization parameters cost a few operations, not hundreds."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_trainwatch._host import to_numpy

if keras.backend.backend() == "tensorflow":
    from keras_trainwatch.probe.backends.tensorflow.replicas import (
        is_sparse,
        read_without_waiting,
        sparse_gradient_and_weight,
        sum_over_replicas,
    )
else:
    # One device, dense gradients, asynchronous (compiled or on-device)
    # execution: nothing to sum, no sparse rows, no read that waits for
    # nothing.

    def sum_over_replicas(value):
        return value

    def is_sparse(grad) -> bool:
        return False

    def sparse_gradient_and_weight(grad, weight, replicas):
        raise NotImplementedError  # no sparse gradients here

    def read_without_waiting(tensors) -> bool:
        return False


def gradient_and_weight(grad, weight, replicas):
    """The (summed) dense gradient and the weights it applies to; a sparse
    gradient (TensorFlow's, from `Embedding`) on the rows it touches."""
    if is_sparse(grad):
        return sparse_gradient_and_weight(grad, weight, replicas)
    return sum_over_replicas(grad), weight


def _size(tensor) -> int | None:
    shape = tuple(tensor.shape)
    return None if None in shape else math.prod(shape)


# Tensors of at most this many entries are stacked with the others of their
# shape and dtype, so that one operation reduces them all: the probe's graph,
# and so its trace and the eager first probe, then grows with the number of
# distinct shapes more than with the number of variables (ResNet50: 214
# variables, 22 sizes), for the price of copying the small tensors.
STACKED_SIZE = 1 << 16


def reduce_each(tensors, *reductions):
    """Applies each reduction to every tensor, stacking the small tensors of
    one shape so that each reduction runs once for them all.

    Args:
        tensors: Tensors of any shapes.
        *reductions: Functions from tensors stacked along a new first axis
            to one value per tensor (`[n, ...] -> [n]`).

    Returns:
        One vector per reduction, its entries in the order of `tensors`.
    """
    groups: dict = {}
    for i, tensor in enumerate(tensors):
        size = _size(tensor)
        small = size is not None and size <= STACKED_SIZE
        key = (tuple(tensor.shape), str(tensor.dtype)) if small else i
        groups.setdefault(key, []).append(i)
    stacked = [
        ops.stack([tensors[i] for i in members]) for members in groups.values()
    ]
    order = [i for members in groups.values() for i in members]
    results = []
    for reduction in reductions:
        values = ops.concatenate([reduction(group) for group in stacked], 0)
        if order != sorted(order):
            values = ops.take(values, np.argsort(order))
        results.append(values)
    return results


def _entry_axes(stacked):
    """Every axis of stacked tensors but the first (the tensor's index)."""
    return tuple(range(1, len(stacked.shape)))


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)


def _stacked_l2_norms(stacked):
    """L2 norms that do not overflow float32 for large finite entries (nor
    underflow for tiny ones): computed on each tensor over its largest
    magnitude, then scaled back."""
    axes = _entry_axes(stacked)
    # At least the smallest normal float, so that all zeros give 0 (not
    # 0/0); a NaN or infinite entry makes the norm non-finite, as it would
    # without scaling.
    largest = ops.maximum(
        ops.max(ops.abs(stacked), axis=axes), _SMALLEST_NORMAL
    )
    scaled = stacked / ops.reshape(largest, [-1] + [1] * len(axes))
    return largest * _euclidean_norm(scaled, axes)


def _euclidean_norm(tensor, axes):
    return ops.sqrt(ops.sum(ops.square(tensor), axis=axes))


def _stacked_one_pass_norms(stacked):
    return _euclidean_norm(stacked, _entry_axes(stacked))


def _stacked_nonfinite_counts(stacked):
    return ops.sum(
        ops.cast(ops.logical_not(ops.isfinite(stacked)), "float32"),
        axis=_entry_axes(stacked),
    )


def l2_norm(tensor):
    """L2 norm of one tensor that does not overflow float32 for large finite
    entries (nor underflow for tiny ones)."""
    return _stacked_l2_norms(ops.cast(tensor, "float32")[None])[0]


# Above this, a one-pass norm is exact to float32 rounding: the entries whose
# squares a CPU flushes to zero (below about 1.1e-19) add at most
# sqrt(size) * 1.1e-19 to it, under 1e-5 of it up to 1e8 entries.
PLAIN_NORM_FLOOR = 1e-10


def norms_and_nonfinite_counts(tensors):
    """`(norms, nonfinite)`: the L2 norm and the number of NaN or infinite
    entries of each tensor, as float32 scalars.

    Compiled, each norm is the overflow-safe `l2_norm` (about five passes
    over the tensor) and each count is taken. Run eagerly on the CPU (the
    first probe, where every operation runs on its own), each tensor first
    gets a one-pass norm, all read to the host together; the safe norm is
    computed only where that one came out non-finite, zero or below
    `PLAIN_NORM_FLOOR`, and entries are counted only there too: a NaN or
    infinite entry makes the one-pass norm non-finite. On another device
    that read would make the host wait for the device: there, the eager
    norms are the compiled ones, and the probe's only wait stays its final
    read.
    """
    return _norms(tensors, count_nonfinite=True)


def l2_norms(tensors):
    """The L2 norm of each tensor, as `norms_and_nonfinite_counts` computes
    it."""
    return _norms(tensors, count_nonfinite=False)[0]


def _norms(tensors, count_nonfinite):
    tensors = [ops.cast(t, "float32") for t in tensors]
    if not tensors:
        return [], []
    if not read_without_waiting(tensors):
        return _safe_norms(tensors, count_nonfinite)
    [plain] = reduce_each(tensors, _stacked_one_pass_norms)
    norms = ops.unstack(plain)
    zero = ops.zeros((), "float32")
    nonfinite = [zero] * len(tensors) if count_nonfinite else []
    unsafe = [
        i
        for i, value in enumerate(to_numpy(plain))
        if not PLAIN_NORM_FLOOR < value < np.inf
    ]
    if unsafe:
        safe, counts = _safe_norms(
            [tensors[i] for i in unsafe], count_nonfinite
        )
        for i, norm in zip(unsafe, safe):
            norms[i] = norm
        for i, count in zip(unsafe, counts):
            nonfinite[i] = count
    return norms, nonfinite


def _safe_norms(tensors, count_nonfinite):
    """`(norms, nonfinite)`: overflow-safe norms of the tensors, and their
    non-finite counts when asked for (else `[]`)."""
    if not count_nonfinite:
        return ops.unstack(reduce_each(tensors, _stacked_l2_norms)[0]), []
    norms, counts = reduce_each(
        tensors, _stacked_l2_norms, _stacked_nonfinite_counts
    )
    return ops.unstack(norms), ops.unstack(counts)


def dead_units_from_output(activation, channel_axis):
    """Units (channels) that output 0 for every sample of the whole batch."""
    rank = len(activation.shape)
    axis = channel_axis % rank
    other_axes = tuple(a for a in range(rank) if a != axis)
    # ReLU outputs are >= 0: a unit is alive where its largest output is
    # not 0 (one pass, no boolean copy of the activations; NaN counts as
    # alive).
    largest = ops.max(activation, axis=other_axes)
    alive = ops.logical_not(ops.less_equal(largest, 0))
    alive_anywhere = sum_over_replicas(ops.cast(alive, "float32"))
    return ops.sum(ops.cast(ops.equal(alive_anywhere, 0), "float32"))


def dead_units_from_gradients(kernel_grad, bias_grad):
    """Units whose (summed) kernel column and bias get exactly zero
    gradient."""
    rank = len(kernel_grad.shape)
    alive = ops.any(ops.not_equal(kernel_grad, 0), axis=tuple(range(rank - 1)))
    if bias_grad is not None:
        alive = ops.logical_or(alive, ops.not_equal(bias_grad, 0))
    return ops.sum(ops.cast(ops.logical_not(alive), "float32"))


def saturated_share(activation, function):
    """Share of the entries of a sigmoid (`function="sigmoid"`) or tanh
    output that sit in the flat tails (beyond 0.01/0.99, or +-0.99)."""
    values = ops.cast(activation, "float32")
    if function == "sigmoid":
        tails = ops.logical_or(values < 0.01, values > 0.99)
    else:
        tails = ops.abs(values) > 0.99
    counts = sum_over_replicas(
        ops.stack(
            [
                ops.sum(ops.cast(tails, "float32")),
                ops.cast(ops.size(values), "float32"),
            ]
        )
    )
    return counts[0] / ops.maximum(counts[1], 1.0)


# Rows of a kernel compared across its units: identical units make every
# row constant, and a random initialization makes none so, so a spread-out
# sample of rows tells them apart at a small fraction of the cost.
SPREAD_ROWS = 32


def unit_spreads(kernels_and_biases):
    """For each `(kernel, bias)` pair (`bias` possibly `None`), the largest
    difference between the units' incoming weights (and biases) over the
    largest entry, on `SPREAD_ROWS` rows of the kernel evenly spaced over it
    (0 when all are zero; NaN when an entry is not finite, which is no
    evidence of identical units). Returns them as one vector."""
    if not kernels_and_biases:
        return ops.zeros([0])
    samples = [
        _sampled_rows(kernel, bias) for kernel, bias in kernels_and_biases
    ]
    return reduce_each(samples, _stacked_spreads)[0]


def _sampled_rows(kernel, bias):
    """`[rows, units]`: `SPREAD_ROWS` rows of the kernel (and the bias)."""
    units = kernel.shape[-1]
    rows = ops.reshape(ops.cast(kernel, "float32"), [-1, units])
    count = rows.shape[0]
    if count is not None and count > SPREAD_ROWS:
        rows = rows[:: -(-count // SPREAD_ROWS)]
    if bias is not None:
        rows = ops.concatenate(
            [rows, ops.reshape(ops.cast(bias, "float32"), [1, -1])], 0
        )
    return rows


def _stacked_spreads(stacked):
    highs, lows = ops.max(stacked, axis=2), ops.min(stacked, axis=2)
    differences = highs - lows
    spread = ops.max(differences, axis=1)
    largest = ops.maximum(ops.max(highs, axis=1), -ops.min(lows, axis=1))
    relative = ops.where(largest > 0, spread / largest, 0.0)
    finite = ops.all(ops.isfinite(differences), axis=1)
    return ops.where(finite, relative, np.nan)


def early_and_late(sequence_grad, backwards):
    """`(steps, early, late)`: the number of steps, and the mean per-step
    gradient norm (over the whole batch) at the first and last tenth of the
    steps, in the order the layer reads the sequence."""
    squares = ops.sum(
        ops.square(ops.cast(sequence_grad, "float32")), axis=(0, 2)
    )
    per_step = ops.sqrt(sum_over_replicas(squares))
    if backwards:
        per_step = ops.flip(per_step, axis=0)
    steps = per_step.shape[0]
    if steps is None:  # a TensorFlow graph traced without a fixed length
        steps = ops.shape(per_step)[0]
    tenth = ops.maximum(steps // 10, 1)
    return (
        ops.cast(steps, "float32"),
        ops.mean(per_step[:tenth]),
        ops.mean(per_step[steps - tenth :]),
    )


HISTOGRAM_BINS = 30


def histogram_buckets(tensor, bins: int = HISTOGRAM_BINS):
    """The histogram of the finite entries of `tensor` in TensorBoard's
    format: `(bins, 3)` rows `[left_edge, right_edge, count]` (float32).

    Computed on the device so that only the buckets reach the host; the
    non-finite entries are masked rather than dropped, so that every shape
    is static.
    """
    values = ops.reshape(ops.cast(tensor, "float32"), [-1])
    finite = ops.isfinite(values)
    empty = ops.logical_not(ops.any(finite))
    low = ops.where(empty, 0.0, ops.min(ops.where(finite, values, np.inf)))
    high = ops.where(empty, 0.0, ops.max(ops.where(finite, values, -np.inf)))
    # A single value gets a unit-wide range around it, as TensorBoard does.
    same = ops.equal(low, high)
    low = ops.where(same, low - 0.5, low)
    high = ops.where(same, high + 0.5, high)
    position = (ops.where(finite, values, low) - low) / (high - low)
    # The largest value falls in the last bin, as in `np.histogram`.
    bucket = ops.clip(
        ops.cast(ops.floor(position * bins), "int32"), 0, bins - 1
    )
    counts = ops.segment_sum(
        ops.cast(finite, "float32"), bucket, num_segments=bins
    )
    edges = low + (high - low) * ops.arange(bins + 1, dtype="float32") / bins
    return ops.stack([edges[:-1], edges[1:], counts], 1)
