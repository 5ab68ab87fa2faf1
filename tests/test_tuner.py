"""keras-tuner copies the callbacks for every trial: each trial's watch is a
run of its own."""

import keras
import keras_tuner

import keras_trainwatch as ktw
from keras_trainwatch.tensorboard.reader import read_runs


def test_random_search_trials_write_separate_runs(tmp_path, digits):
    x, y = digits[0][:256], digits[1][:256]

    def build(hp):
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(
                    hp.Choice("units", [8, 16]), activation="relu"
                ),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy")
        return model

    watch = ktw.GradientWatch(
        (x[:64], y[:64]), log_dir=tmp_path / "logs", on_finding=lambda f: None
    )
    tuner = keras_tuner.RandomSearch(
        build,
        objective="loss",
        max_trials=2,
        directory=tmp_path / "tuner",
        seed=0,
    )
    tuner.search(x, y, epochs=2, verbose=0, callbacks=[watch])
    runs = read_runs(tmp_path / "logs")
    assert [run.name for run in runs] == ["copy_1", "copy_2"]
    for run in runs:
        steps = [step for step, _ in run.scalars["probe/loss"]]
        assert steps == sorted(steps) and steps[0] == 0, "one run, not mixed"
    # The user's own watch is the template; the copies did the watching.
    assert watch.records == type(watch.records)() and watch.probe is None
    assert not (tmp_path / "logs" / "gradient_watch").exists()
