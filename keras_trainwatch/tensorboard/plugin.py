"""The `trainwatch` TensorBoard dashboard: gradient flow as heatmaps.

A dynamic TensorBoard plugin, found through the `tensorboard_plugins` entry
point, so the ordinary `tensorboard --logdir` serves it (no extra server).
It reads the event files the watch writes, with the package's own reader,
and shows per run: the relative gradient |g|/|w| of every layer (rows, in
the model's order) at every probe (columns) on a log colour scale,
non-finite and exactly-zero cells marked; the dead fraction of the ReLU
layers; the findings with evidence and remedy (a click highlights the
finding's layer and step); and the learning-rate reductions and rollbacks
on the same step axis.
"""

from __future__ import annotations

import json
import os

import werkzeug
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from keras_trainwatch.tensorboard.flow import run_view
from keras_trainwatch.tensorboard.reader import read_runs
from keras_trainwatch.tensorboard.tags import RUN_NAME

PLUGIN_NAME = "trainwatch"
_STATIC = os.path.join(os.path.dirname(__file__), "static")


class TrainwatchPlugin(base_plugin.TBPlugin):
    """Serves the dashboard's page and its data.

    Args:
        context: TensorBoard's `TBContext` (the log directory is read from
            it).
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._logdir = context.logdir or ""

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_script,
            "/runs": self._serve_runs,
            "/run": self._serve_run,
        }

    def is_active(self) -> bool:
        return bool(self._logdir) and any(
            os.path.basename(folder) == RUN_NAME
            for folder, _, _ in os.walk(self._logdir)
        )

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Trainwatch"
        )

    @wrappers.Request.application
    def _serve_script(self, request):
        with open(os.path.join(_STATIC, "index.js"), encoding="utf-8") as file:
            return werkzeug.Response(
                file.read(), content_type="application/javascript"
            )

    @wrappers.Request.application
    def _serve_runs(self, request):
        names = [run.name for run in read_runs(self._logdir)]
        return _json(names)

    @wrappers.Request.application
    def _serve_run(self, request):
        name = request.args.get("run", "")
        for run in read_runs(self._logdir):
            if run.name == name:
                return _json(run_view(run))
        return _json({"error": f"no run named {name!r}"}, status=404)


def _json(value, status=200):
    return werkzeug.Response(
        json.dumps(value), content_type="application/json", status=status
    )
