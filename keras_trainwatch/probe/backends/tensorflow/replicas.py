"""The reductions only TensorFlow needs: sums over the replicas of a
`tf.distribute` strategy, `Embedding`'s sparse gradients (`IndexedSlices`),
and whether eager tensors can be read without waiting for a device.
`probe/reductions.py` calls these on TensorFlow and stands in for them on
the other backends."""

from __future__ import annotations

import tensorflow as tf


def sum_over_replicas(value):
    """Sums `value` over the replicas (the value itself with one replica)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def is_sparse(grad) -> bool:
    """Whether `grad` is a sparse gradient (`IndexedSlices`)."""
    return isinstance(grad, tf.IndexedSlices)


def sparse_gradient_and_weight(grad, weight, replicas):
    """A sparse gradient summed per touched row, and those rows of the
    weights. Across several replicas it is made dense first, and the
    touched rows are those with a non-zero summed gradient."""
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


def read_without_waiting(tensors) -> bool:
    """Whether eager tensors reach the host without waiting for a device:
    on the CPU, run eagerly and synchronously, each operation has finished
    when it returns."""
    return (
        tf.executing_eagerly()
        and tf.config.experimental.get_synchronous_execution()
        and all(
            tf.DeviceSpec.from_string(t.device).device_type == "CPU"
            for t in tensors
        )
    )
