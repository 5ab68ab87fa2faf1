import json

import pytest

from keras_trainwatch.reducer.state_file import STATE_FILE, ReducerStateFile

pytestmark = pytest.mark.fast


def test_save_load_delete_round_trip(tmp_path):
    state_file = ReducerStateFile(tmp_path / "backup")
    assert state_file.load() is None
    state_file.save({"wait": 2, "best": 0.5})
    assert json.loads((tmp_path / "backup" / STATE_FILE).read_text()) == {
        "wait": 2,
        "best": 0.5,
    }
    assert state_file.load() == {"wait": 2, "best": 0.5}
    state_file.save({"wait": 3})
    assert state_file.load() == {"wait": 3}
    assert not (tmp_path / "backup" / (STATE_FILE + ".tmp")).exists()
    state_file.delete()
    assert state_file.load() is None
    state_file.delete()  # deleting twice is harmless
