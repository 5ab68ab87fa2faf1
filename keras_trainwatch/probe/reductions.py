"""TensorFlow reductions the probe applies to gradients and activations, on
the device. In a replica context, the parts that need the whole batch are
summed over the replicas (`all_reduce`) before they are reduced further.
Per-variable statistics stack the small tensors of one shape and reduce
them together (`reduce_each`), so that a model's hundreds of biases and
normalization parameters cost a few operations, not hundreds."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_trainwatch._host import to_numpy


def sum_over_replicas(value):
    """Sums `value` over the replicas (the value itself with one replica)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def gradient_and_weight(grad, weight, replicas):
    """The (summed) dense gradient and the weights it applies to.

    Sparse gradients (from `Embedding`) are summed per touched row and only
    those rows of the weights are kept. Across several replicas they are
    made dense first, and the touched rows are those with a non-zero summed
    gradient.
    """
    if isinstance(grad, tf.IndexedSlices):
        if replicas == 1:
            rows, positions = tf.unique(grad.indices)
            summed = tf.math.unsorted_segment_sum(
                grad.values, positions, tf.shape(rows)[0]
            )
            return summed, tf.gather(weight, rows)
        dense = sum_over_replicas(tf.convert_to_tensor(grad))
        touched = tf.reduce_any(
            tf.not_equal(dense, 0), axis=list(range(1, dense.shape.rank))
        )
        return tf.boolean_mask(dense, touched), tf.boolean_mask(weight, touched)
    return sum_over_replicas(grad), weight


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
        size = tensor.shape.num_elements()
        small = size is not None and size <= STACKED_SIZE
        key = (tuple(tensor.shape), tensor.dtype) if small else i
        groups.setdefault(key, []).append(i)
    stacked = [
        tf.stack([tensors[i] for i in members]) for members in groups.values()
    ]
    order = [i for members in groups.values() for i in members]
    results = []
    for reduction in reductions:
        values = tf.concat([reduction(group) for group in stacked], 0)
        if order != sorted(order):
            values = tf.gather(values, np.argsort(order))
        results.append(values)
    return results


def _entry_axes(stacked):
    """Every axis of stacked tensors but the first (the tensor's index)."""
    return list(range(1, stacked.shape.rank))


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)


def _stacked_l2_norms(stacked):
    """L2 norms that do not overflow float32 for large finite entries (nor
    underflow for tiny ones): computed on each tensor over its largest
    magnitude, then scaled back."""
    axes = _entry_axes(stacked)
    # At least the smallest normal float, so that all zeros give 0 (not
    # 0/0); a NaN or infinite entry makes the norm non-finite, as it would
    # without scaling.
    largest = tf.maximum(
        tf.reduce_max(tf.abs(stacked), axis=axes), _SMALLEST_NORMAL
    )
    scaled = stacked / tf.reshape(largest, [-1] + [1] * len(axes))
    return largest * tf.math.reduce_euclidean_norm(scaled, axis=axes)


def _stacked_one_pass_norms(stacked):
    return tf.math.reduce_euclidean_norm(stacked, axis=_entry_axes(stacked))


def _stacked_nonfinite_counts(stacked):
    return tf.reduce_sum(
        tf.cast(~tf.math.is_finite(stacked), tf.float32),
        axis=_entry_axes(stacked),
    )


def l2_norm(tensor):
    """L2 norm of one tensor that does not overflow float32 for large finite
    entries (nor underflow for tiny ones)."""
    return _stacked_l2_norms(tf.cast(tensor, tf.float32)[None])[0]


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
    tensors = [tf.cast(t, tf.float32) for t in tensors]
    if not tensors:
        return [], []
    if not tf.executing_eagerly() or not _read_without_waiting(tensors):
        return _safe_norms(tensors, count_nonfinite)
    [plain] = reduce_each(tensors, _stacked_one_pass_norms)
    norms = tf.unstack(plain)
    nonfinite = [tf.constant(0.0)] * len(tensors) if count_nonfinite else []
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


def _read_without_waiting(tensors):
    """Whether eager tensors reach the host without waiting for a device:
    on the CPU, run synchronously, each operation has finished when it
    returns."""
    return tf.config.experimental.get_synchronous_execution() and all(
        tf.DeviceSpec.from_string(t.device).device_type == "CPU"
        for t in tensors
    )


def _safe_norms(tensors, count_nonfinite):
    """`(norms, nonfinite)`: overflow-safe norms of the tensors, and their
    non-finite counts when asked for (else `[]`)."""
    if not count_nonfinite:
        return tf.unstack(reduce_each(tensors, _stacked_l2_norms)[0]), []
    norms, counts = reduce_each(
        tensors, _stacked_l2_norms, _stacked_nonfinite_counts
    )
    return tf.unstack(norms), tf.unstack(counts)


def dead_units_from_output(activation, channel_axis):
    """Units (channels) that output 0 for every sample of the whole batch."""
    rank = activation.shape.rank
    axis = channel_axis % rank
    other_axes = [a for a in range(rank) if a != axis]
    # ReLU outputs are >= 0: a unit is alive where its largest output is
    # not 0 (one pass, no boolean copy of the activations; NaN counts as
    # alive).
    largest = tf.reduce_max(activation, axis=other_axes)
    alive = ~(largest <= 0)
    alive_anywhere = sum_over_replicas(tf.cast(alive, tf.float32))
    return tf.reduce_sum(tf.cast(tf.equal(alive_anywhere, 0), tf.float32))


def dead_units_from_gradients(kernel_grad, bias_grad):
    """Units whose (summed) kernel column and bias get exactly zero
    gradient."""
    rank = kernel_grad.shape.rank
    alive = tf.reduce_any(
        tf.not_equal(kernel_grad, 0), axis=list(range(rank - 1))
    )
    if bias_grad is not None:
        alive = alive | tf.not_equal(bias_grad, 0)
    return tf.reduce_sum(tf.cast(~alive, tf.float32))


def saturated_share(activation, function):
    """Share of the entries of a sigmoid (`function="sigmoid"`) or tanh
    output that sit in the flat tails (beyond 0.01/0.99, or +-0.99)."""
    values = tf.cast(activation, tf.float32)
    if function == "sigmoid":
        tails = (values < 0.01) | (values > 0.99)
    else:
        tails = tf.abs(values) > 0.99
    counts = sum_over_replicas(
        tf.stack(
            [
                tf.reduce_sum(tf.cast(tails, tf.float32)),
                tf.cast(tf.size(values), tf.float32),
            ]
        )
    )
    return counts[0] / tf.maximum(counts[1], 1.0)


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
        return tf.zeros([0])
    samples = [
        _sampled_rows(kernel, bias) for kernel, bias in kernels_and_biases
    ]
    return reduce_each(samples, _stacked_spreads)[0]


def _sampled_rows(kernel, bias):
    """`[rows, units]`: `SPREAD_ROWS` rows of the kernel (and the bias)."""
    units = kernel.shape[-1]
    rows = tf.reshape(tf.cast(kernel, tf.float32), [-1, units])
    count = rows.shape[0]
    if count is not None and count > SPREAD_ROWS:
        rows = rows[:: -(-count // SPREAD_ROWS)]
    if bias is not None:
        rows = tf.concat(
            [rows, tf.reshape(tf.cast(bias, tf.float32), [1, -1])], 0
        )
    return rows


def _stacked_spreads(stacked):
    highs, lows = tf.reduce_max(stacked, axis=2), tf.reduce_min(stacked, axis=2)
    differences = highs - lows
    spread = tf.reduce_max(differences, axis=1)
    largest = tf.maximum(
        tf.reduce_max(highs, axis=1), -tf.reduce_min(lows, axis=1)
    )
    relative = tf.where(largest > 0, spread / largest, 0.0)
    finite = tf.reduce_all(tf.math.is_finite(differences), axis=1)
    return tf.where(finite, relative, np.nan)


def early_and_late(sequence_grad, backwards):
    """`(steps, early, late)`: the number of steps, and the mean per-step
    gradient norm (over the whole batch) at the first and last tenth of the
    steps, in the order the layer reads the sequence."""
    squares = tf.reduce_sum(
        tf.square(tf.cast(sequence_grad, tf.float32)), axis=[0, 2]
    )
    per_step = tf.sqrt(sum_over_replicas(squares))
    if backwards:
        per_step = tf.reverse(per_step, axis=[0])
    steps = tf.size(per_step)
    tenth = tf.maximum(steps // 10, 1)
    return (
        tf.cast(steps, tf.float32),
        tf.reduce_mean(per_step[:tenth]),
        tf.reduce_mean(per_step[steps - tenth :]),
    )


HISTOGRAM_BINS = 30


def histogram_buckets(tensor, bins: int = HISTOGRAM_BINS):
    """The histogram of the finite entries of `tensor` in TensorBoard's
    format: `(bins, 3)` float64 rows `[left_edge, right_edge, count]`.

    Computed on the device so that only the buckets reach the host.
    """
    values = tf.reshape(tf.cast(tensor, tf.float64), [-1])
    values = tf.boolean_mask(values, tf.math.is_finite(values))
    empty = tf.equal(tf.size(values), 0)
    low = tf.where(empty, tf.constant(0.0, tf.float64), tf.reduce_min(values))
    high = tf.where(empty, tf.constant(0.0, tf.float64), tf.reduce_max(values))
    # A single value gets a unit-wide range around it, as TensorBoard does.
    same = tf.equal(low, high)
    low = tf.where(same, low - 0.5, low)
    high = tf.where(same, high + 0.5, high)
    counts = tf.histogram_fixed_width(values, tf.stack([low, high]), nbins=bins)
    edges = tf.linspace(low, high, bins + 1)
    return tf.stack([edges[:-1], edges[1:], tf.cast(counts, tf.float64)], 1)
