"""The reducer's state on disk, so that an interrupted run resumes it."""

from __future__ import annotations

import dataclasses
import json
import os

from keras_trainwatch.learning_rate import Reduction, rates_state, restore_rates

STATE_FILE = "auto_lr_reducer.json"


class ReducerStateFile:
    """A JSON file holding the reducer's resumable state, written atomically.

    It lives in the `backup_dir` of `keras.callbacks.BackupAndRestore`, so
    that a run resumed from that backup also resumes the reducer.

    Args:
        directory: The folder of the file.

    Example:

    ```python
    state_file = ReducerStateFile("backup")
    state_file.save({"wait": 2})
    state_file.load()  # {"wait": 2}
    state_file.delete()
    ```
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = os.path.join(os.fspath(directory), STATE_FILE)

    def save(self, state: dict) -> None:
        """Writes `state` (JSON-able values), replacing the file at once."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        temporary = self.path + ".tmp"
        with open(temporary, "w") as file:
            json.dump(state, file)
        os.replace(temporary, self.path)

    def load(self) -> dict | None:
        """The saved state, or `None` when there is none."""
        if not os.path.exists(self.path):
            return None
        with open(self.path) as file:
            return json.load(file)

    def delete(self) -> None:
        """Removes the file (a run that ended normally resumes nothing)."""
        if os.path.exists(self.path):
            os.remove(self.path)


def reducer_state(reducer, handles) -> dict:
    """An `AutoLRReducer`'s resumable state as plain JSON-able values: its
    plateau state, its optimizers' rates and schedule scales, its
    reductions."""
    return {
        "best": reducer.best,
        "wait": reducer.wait,
        "cooldown_counter": reducer.cooldown_counter,
        **rates_state(handles),
        "reductions": [dataclasses.asdict(r) for r in reducer.reductions],
    }


def restore_reducer_state(reducer, handles, state: dict) -> None:
    """Puts a `reducer_state` back into `reducer` and its optimizers."""
    reducer.best, reducer.wait = state["best"], state["wait"]
    reducer.cooldown_counter = state["cooldown_counter"]
    reducer.reductions = [Reduction(**r) for r in state["reductions"]]
    restore_rates(handles, state)
