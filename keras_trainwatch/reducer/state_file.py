"""The reducer's state on disk, so that an interrupted run resumes it."""

from __future__ import annotations

import json
import os

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
