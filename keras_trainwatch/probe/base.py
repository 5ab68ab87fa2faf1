"""What every backend's probe shares: the model's layout, the variables the
loss reaches, the latest gradient histograms, and the record a probe's
statistics become."""

from __future__ import annotations

import logging

import keras
import numpy as np

from keras_trainwatch.probe.batch import ProbeBatch
from keras_trainwatch.probe.layout import ModelLayout
from keras_trainwatch.probe.statistics import ProbeStatistics, to_record
from keras_trainwatch.records import ProbeRecord

_LOG = logging.getLogger("keras_trainwatch")


class ProbeBase:
    """The backend-neutral half of a probe (see `TensorFlowProbe`,
    `FunctionalProbe`).

    Args:
        model: A built, compiled Keras model.
        batch: The fixed probe batch.
        histograms: Whether to also bucket every gradient into a histogram
            (for TensorBoard), read with `last_histograms`.
    """

    def __init__(
        self, model: keras.Model, batch: ProbeBatch, histograms: bool = False
    ):
        self.model = model
        self.layout = ModelLayout.of(model)
        self.histograms = histograms
        self._input_scale = batch.input_scale
        self._target_scale = batch.target_scale
        # Indices of the variables the loss reaches, found once; the others
        # are left out of the statistics.
        self._connected: list[int] | None = None
        self._last_histograms: np.ndarray | None = None

    @property
    def watched_variable_names(self) -> list[str]:
        """Names of the variables the loss reaches, in statistics order."""
        return [self.layout.variable_names[i] for i in self._connected or []]

    @property
    def last_histograms(self) -> np.ndarray | None:
        """`[variables, bins, 3]` gradient histograms of the latest probe
        (with `histograms=True`), in `watched_variable_names` order."""
        return self._last_histograms

    def _set_connected(self, reached: list[bool]) -> None:
        """Keeps which variables the loss reaches, and logs those it does
        not (they are not watched)."""
        self._connected = [i for i, r in enumerate(reached) if r]
        missing = [
            name
            for name, r in zip(self.layout.variable_names, reached)
            if not r
        ]
        if missing:
            _LOG.info(
                "GradientWatch: these variables get no gradient from the "
                "loss and are not watched: %s",
                ", ".join(missing),
            )

    def _record(
        self, values: ProbeStatistics, epoch: int, step: int
    ) -> ProbeRecord:
        """The record of statistics read to the host."""
        self._last_histograms = values.histograms if self.histograms else None
        return to_record(
            values,
            self.layout,
            self._connected,
            epoch,
            step,
            input_scale=self._input_scale,
            target_scale=self._target_scale,
        )
