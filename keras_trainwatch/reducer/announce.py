"""Saying what the reducer did: one line per reduction, and the rates in
TensorBoard next to the watch's findings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from keras_trainwatch import _keras_compat
from keras_trainwatch.learning_rate import LearningRateHandle, Reduction
from keras_trainwatch.reducer.plateau import PLATEAU_REASON
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter
from keras_trainwatch.watch.on_finding import PROGRESS_LINE

LOGGER = logging.getLogger("keras_trainwatch")


def shortest(rate: float) -> str:
    """A rate in float32's shortest form: rates are float32 variables, and
    0.01 reads back as 0.0100000001..., which this prints as 0.01."""
    return str(np.float32(rate))


class ReductionAnnouncer:
    """Announces each reduction once: with `verbose=1` as Keras's
    `ReduceLROnPlateau` does (`print_msg`, so that it reaches the absl log
    when Keras's interactive logging is off), else as one line on the
    `keras_trainwatch` logger. Writes reductions and rates to the run's
    TensorBoard writer, when there is one.

    Args:
        verbose: 0 or 1, the reducer's `verbose`.
        drawing_progress_bar: Says whether Keras's progress bar is drawing
            a line on the terminal now (that line is ended first).

    Attributes:
        writer: The run's `ProbeSummaryWriter` (handed over by the watch's
            updates), or `None`.
    """

    def __init__(
        self,
        verbose: int,
        drawing_progress_bar: Callable[[], bool] = lambda: False,
    ):
        self.verbose = verbose
        self.writer: ProbeSummaryWriter | None = None
        self._drawing_progress_bar = drawing_progress_bar

    def __call__(self, reduction: Reduction, several: bool) -> None:
        """Announces one reduction.

        Args:
            reduction: The reduction made.
            several: Whether the model has several optimizers (each
                reduction then names its optimizer).
        """
        name = f" {reduction.optimizer}" if several else ""
        rate = shortest(reduction.new_lr)
        if self.verbose > 0:
            # A plateau's message is ReduceLROnPlateau's word for word; a
            # reduction for another reason says which.
            why = (
                ""
                if reduction.reason.startswith(PLATEAU_REASON)
                else f" ({reduction.reason})"
            )
            _keras_compat.print_msg(
                f"\nEpoch {reduction.epoch + 1}: AutoLRReducer reducing{name} "
                f"learning rate to {rate}{why}."
            )
        else:
            if self._drawing_progress_bar():
                PROGRESS_LINE.end(reduction.step)
            LOGGER.warning(
                "AutoLRReducer: reduced%s learning rate to %s: %s.",
                name,
                rate,
                reduction.reason,
            )
        if self.writer is not None and reduction.step is not None:
            self.writer.write_reduction(reduction)

    def write_rates(
        self, handles: Sequence[LearningRateHandle], step: int | None
    ) -> None:
        """Writes the current rates at `step` (when there is a writer)."""
        if self.writer is None or step is None:
            return
        self.writer.write_learning_rates(
            {handle.name: handle.value() for handle in handles}, step
        )
