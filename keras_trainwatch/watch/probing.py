"""The watch's probe: built for the model it is attached to, rebuilt when
that model is recompiled, run without ever crashing the training."""

from __future__ import annotations

import collections
import logging

import keras

from keras_trainwatch import _keras_compat
from keras_trainwatch._internal_errors import report_bug
from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.probe import (
    MODEL_ERRORS,
    GradientProbe,
    ProbeBatch,
    build_probe,
)
from keras_trainwatch.records import ProbeRecord

LOGGER = logging.getLogger("keras_trainwatch")


class ProbeRunner:
    """Runs the probe of one watch and keeps the records it made.

    A failure of the model's own computation on the probe batch (out of
    memory, a layer that breaks in training mode) turns probing off for the
    rest of the run with a warning, unless `raise_errors`; a failure of the
    probe's own code is reported as a bug of this package (raised under
    `KERAS_TRAINWATCH_STRICT=1`). Either way training goes on.

    Args:
        batch: The probe batch.
        keep_records: How many records to keep (`None`: all).
        history_size: How many earlier records the rules read.

    Example:

    ```python
    runner = ProbeRunner(batch, keep_records=100, history_size=5)
    runner.attach(model, histograms=False)
    record = runner.run(epoch=0, step=0, raise_errors=False)
    ```
    """

    def __init__(
        self, batch: ProbeBatch, keep_records: int | None, history_size: int
    ):
        self.batch = batch
        self.probe: GradientProbe | None = None
        self._key: tuple | None = None
        self._keep_records = keep_records
        self._history_size = history_size
        self.forget()

    def forget(self) -> None:
        """Drops the records (a new run of another model)."""
        self.records: collections.deque[ProbeRecord] = collections.deque(
            maxlen=self._keep_records
        )
        self.recent: collections.deque[ProbeRecord] = collections.deque(
            maxlen=self._history_size
        )
        self.disabled = False

    @property
    def last_record(self) -> ProbeRecord | None:
        """The latest record, or `None` before the first probe."""
        return self.records[-1] if self.records else None

    def attach(self, model: keras.Model, histograms: bool) -> bool:
        """Builds the probe, unless the one built is for this very model as
        compiled now (recompiling changes the loss, the optimizer and the
        trainable variables the compiled probe was traced with).

        Returns:
            Whether a new probe was built.

        Raises:
            ValueError: If the probe batch does not fit the model.
        """
        key = (
            id(model),
            id(getattr(model, "optimizer", None)),
            id(_keras_compat.compiled_loss(model)),
        )
        if self.probe is not None and key == self._key:
            return False
        self.probe = build_probe(model, self.batch, histograms=histograms)
        self._key = key
        self.disabled = False  # a new probe gets a new chance
        return True

    def __deepcopy__(self, memo):
        # A copy is attached to another model: it builds a probe of its own.
        return deepcopy_without(self, memo, unbound=("probe", "_key"))

    def run(
        self, epoch: int, step: int, raise_errors: bool
    ) -> ProbeRecord | None:
        """Runs one probe.

        Args:
            epoch: The 0-based epoch.
            step: The global training step.
            raise_errors: Whether a failure of the model's computation
                raises (`on_finding="raise"`) instead of turning probing
                off.

        Returns:
            The record, or `None` when probing is off or has just failed.
        """
        if self.disabled or self.probe is None:
            return None
        try:
            return self.probe(epoch, step)
        except MODEL_ERRORS as error:
            if raise_errors:
                raise
            self.disabled = True
            LOGGER.warning(
                "GradientWatch: the probe failed at epoch %d, step %d and is "
                "disabled for the rest of this run: %s: %s",
                epoch,
                step,
                type(error).__name__,
                error,
            )
        except Exception as error:  # noqa: BLE001 -- our own bug: report_bug
            self.disabled = True
            report_bug(
                "the gradient probe",
                error,
                "probing is off for the rest of this run",
            )
        return None

    def keep(self, record: ProbeRecord) -> None:
        """Keeps a record the rules have judged."""
        self.records.append(record)
        self.recent.append(record)
