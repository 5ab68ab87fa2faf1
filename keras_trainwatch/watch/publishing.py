"""Telling everyone what one check of the watch found: TensorBoard, the
user (warn, stop, raise or call) and the subscribers, in that order."""

from __future__ import annotations

from collections.abc import Callable

import keras

from keras_trainwatch.copying import deepcopy_without
from keras_trainwatch.watch.on_finding import (
    OnFinding,
    drawing_progress_bar,
    report_changes,
    report_new,
)
from keras_trainwatch.watch.summaries import SummaryListener
from keras_trainwatch.watch.update import Listener, WatchUpdate


class Publisher:
    """Hands each `WatchUpdate` to the TensorBoard listener (when the watch
    writes summaries), reports it the way `on_finding` asks, then calls the
    subscribers.

    Attributes:
        summaries: The `SummaryListener`, or `None` without `log_dir`.
        listeners: The subscribers, in the order they subscribed.
    """

    def __init__(self):
        self.summaries: SummaryListener | None = None
        self.listeners: list[Listener] = []

    def __call__(
        self,
        update: WatchUpdate,
        on_finding: OnFinding,
        model: keras.Model,
        params: dict | None,
        histograms: Callable[[], tuple | None],
    ) -> None:
        """Publishes one check.

        Args:
            update: The check.
            on_finding: The watch's `on_finding`.
            model: The model being trained (`"stop"` stops it).
            params: The callback's `params` (is a progress bar drawing?).
            histograms: Returns `(variable names, buckets)` of the probe,
                or `None`; called only when summaries are written.
        """
        if self.summaries is not None:
            self.summaries(update, histograms())
        findings = update.findings
        line_open_at = update.step if drawing_progress_bar(params) else None
        report_new(findings.new, on_finding, model, line_open_at)
        report_changes(
            findings.returned, findings.resolved, on_finding, line_open_at
        )
        for listener in self.listeners:
            listener(update)

    def __deepcopy__(self, memo):
        # A copy writes a run of its own (opened at its first fit).
        return deepcopy_without(self, memo, unbound=("summaries",))
