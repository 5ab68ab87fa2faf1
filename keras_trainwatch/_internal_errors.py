"""What happens when the package's own code fails while `fit` runs.

A monitoring callback must never crash the training it watches, so in use a
failure of our own code (a rule, a reduction, a writer) is logged once as a
bug of keras_trainwatch, with what it turns off, and training goes on. In
the package's tests, and for anyone who sets `KERAS_TRAINWATCH_STRICT=1`,
the same failure raises, so that a bug cannot hide behind a warning.
"""

from __future__ import annotations

import logging
import os

LOGGER = logging.getLogger("keras_trainwatch")

STRICT_VARIABLE = "KERAS_TRAINWATCH_STRICT"


def strict() -> bool:
    """Whether our own failures raise (`KERAS_TRAINWATCH_STRICT=1`)."""
    return os.environ.get(STRICT_VARIABLE, "") not in ("", "0")


def report_bug(where: str, error: BaseException, consequence: str) -> None:
    """Logs a failure of the package's own code, or raises it when strict.

    Args:
        where: What failed, e.g. `"the rule DeadReluDetector"`.
        error: The exception (re-raised when `strict()`).
        consequence: What is turned off, e.g. `"it is skipped for the rest
            of this run"`.

    Raises:
        The exception itself, when `strict()`.
    """
    if strict():
        raise error
    LOGGER.error(
        "keras_trainwatch bug: %s failed with %s: %s; %s. Training goes on. "
        "Please report it with its traceback (set %s=1 to raise it).",
        where,
        type(error).__name__,
        error,
        consequence,
        STRICT_VARIABLE,
    )
