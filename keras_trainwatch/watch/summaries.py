"""Writing what the watch sees to TensorBoard, as one of its listeners."""

from __future__ import annotations

import logging
import os

import keras

from keras_trainwatch.tensorboard.tags import RUN_NAME
from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter
from keras_trainwatch.watch.update import WatchUpdate

LOGGER = logging.getLogger("keras_trainwatch")


def _has_events(folder: str) -> bool:
    return os.path.isdir(folder) and any(
        name.startswith("events.out.tfevents") for name in os.listdir(folder)
    )


def writes_summaries(model: keras.Model) -> bool:
    """Whether this process writes logs for `model`: always, except on the
    non-chief workers of a multi-worker strategy (which would otherwise
    write the same run several times)."""
    strategy = getattr(model, "distribute_strategy", None)
    return bool(
        getattr(
            getattr(strategy, "extended", None), "should_save_summary", True
        )
    )


class SummaryListener:
    """Owns the run's TensorBoard writer during `fit` and writes every check
    of the watch: the probe's record and histograms, new and returned
    findings, resolutions.

    Args:
        log_dir: The run's folder (`<log_dir>/gradient_watch` is written).

    Example:

    ```python
    summaries = SummaryListener("logs/run1")
    summaries.open()
    summaries(update)          # after each check of the watch
    summaries.close()          # at the end of fit
    ```
    """

    def __init__(self, log_dir: str | os.PathLike):
        self.log_dir = os.fspath(log_dir)
        self.writer: ProbeSummaryWriter | None = None
        self._opened = False

    def open(self) -> None:
        """Opens the event file (a new one in the same run folder at each
        `fit`). The first time, if the run folder holds events of an
        earlier run, says that this run's are added to them."""
        if self.writer is not None:
            return
        folder = os.path.join(self.log_dir, RUN_NAME)
        if not self._opened and _has_events(folder):
            LOGGER.warning(
                "GradientWatch: %s already holds the events of an earlier "
                "run; this run's are added to the same run folder "
                "(TensorBoard and `trainwatch report` show them as one). "
                "Pass another log_dir to keep them apart.",
                folder,
            )
        self._opened = True
        self.writer = ProbeSummaryWriter(self.log_dir)

    def close(self) -> None:
        """Closes the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __call__(
        self,
        update: WatchUpdate,
        histograms: tuple[list[str], list] | None = None,
    ) -> None:
        """Writes one check.

        Args:
            update: The check.
            histograms: `(variable names, bucket tensors)` of the probe,
                or `None`.
        """
        writer = self.writer
        if writer is None:
            return
        if update.record is not None:
            writer.write_record(update.record)
            if histograms is not None:
                writer.write_histograms(*histograms, update.step)
        findings = update.findings
        writer.write_findings(findings.new + findings.returned)
        writer.write_resolved(findings.resolved)
