"""Importing TensorFlow without the lines its native code writes to stderr
before its logging is set up.

TensorFlow 2.21 prints "All log messages before absl::InitializeLog() ...",
"oneDNN custom operations are on", "Could not find cuda drivers" and, where
a CUDA library is installed without a GPU, "failed call to cuInit" (when the
devices are set up), from C++ and before `TF_CPP_MIN_LOG_LEVEL` applies. The package's
commands and scripts import TensorFlow through `import_tensorflow()`, which
holds the process's stderr while it imports and passes on every line that is
not one of those. If the import fails, everything captured is passed on.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

# Lines that say nothing a user can act on.
_NOISE = re.compile(
    r"All log messages before absl::InitializeLog"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation_placer\.cc.*already registered"
    r"|TensorFlow binary is optimized to use available CPU instructions"
    r"|rebuild TensorFlow with the appropriate compiler flags"
)


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Holds what native code writes to stderr inside, and passes on the
    lines that are not TensorFlow's start-up noise (all of them if an
    exception leaves the block)."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (IDEs)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), descriptor)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            kept = [
                line
                for line in text.splitlines(keepends=True)
                if failed or not _NOISE.search(line)
            ]
            sys.stderr.write("".join(kept))


def import_tensorflow(before_devices: Callable | None = None):
    """`import tensorflow`, without its start-up noise on stderr.

    Args:
        before_devices: Called with the module before TensorFlow sets up its
            devices (which must happen first for, e.g., logical devices).

    Returns:
        The `tensorflow` module.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_filtered():
        import tensorflow

        if before_devices is not None:
            before_devices(tensorflow)
        # The devices are set up at the first operation, which is when the
        # CUDA driver is tried: here, inside the filter.
        tensorflow.config.list_logical_devices()
    return tensorflow


def import_tensorflow_if_backend() -> None:
    """`import_tensorflow()` when Keras is going to run on TensorFlow (the
    default, or `KERAS_BACKEND=tensorflow`) and it is installed; nothing
    otherwise."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "tensorflow" and importlib.util.find_spec("tensorflow"):
        import_tensorflow()
