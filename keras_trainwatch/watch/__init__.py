"""The `GradientWatch` callback and the pieces only it uses.

`callback` (the coordinator), `schedule` (when to probe), `step_losses`
(the per-step losses, read 16 steps at a time), `probing` (building and
running the probe without crashing training), `ledger` (each finding once,
in episodes), `on_finding` (warn, stop, raise or call), `summaries`
(TensorBoard, as a listener), `logs_summary` (the `logs` dict) and `update`
(what subscribers get).
"""

from keras_trainwatch.watch.callback import GradientWatch
from keras_trainwatch.watch.on_finding import TrainingPathologyError
from keras_trainwatch.watch.summaries import writes_summaries
from keras_trainwatch.watch.update import WatchUpdate

__all__ = [
    "GradientWatch",
    "TrainingPathologyError",
    "WatchUpdate",
    "writes_summaries",
]
