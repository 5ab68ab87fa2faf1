"""Every use of a TensorFlow private API, in one place (see
`_keras_compat.py` for Keras's)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tensorflow.core.protobuf import config_pb2
from tensorflow.python.eager import context as _context


@contextlib.contextmanager
def graph_optimization_off() -> Iterator[None]:
    """Runs the `tf.function`s called inside without Grappler, TensorFlow's
    graph optimizer, on this thread only.

    Grappler rewrites a function's graph when it is first called: for the
    probe, the larger half of its one-time setup (measured by
    `benchmarks/setup_cost.py`), and the probe runs no faster for it.
    Function call options are per thread and part of the key under which an
    instantiated function is cached, so the user's own training functions,
    called with the options restored, keep their optimized graphs.
    """
    eager = _context.context()
    saved = eager.function_call_options
    config = config_pb2.ConfigProto()
    config.ParseFromString(saved.config_proto_serialized)
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    eager.function_call_options = _context.FunctionCallOptions(
        executor_type=saved.executor_type, config_proto=config
    )
    try:
        yield
    finally:
        eager.function_call_options = saved


def grappler_disabled() -> bool:
    """Whether functions called now on this thread skip Grappler."""
    config = config_pb2.ConfigProto()
    config.ParseFromString(
        _context.context().function_call_options.config_proto_serialized
    )
    return config.graph_options.rewrite_options.disable_meta_optimizer
