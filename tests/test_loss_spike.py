import math

import pytest

from keras_trainwatch.detectors import SpikeDetector

pytestmark = pytest.mark.fast


def feed(detector, values, start=0):
    found = []
    for step, value in enumerate(values, start=start):
        found += detector.update(0, step, value)
    return found


def noisy(n, mean=1.0, spread=0.05, seed=0):
    import numpy as np

    return list(np.random.default_rng(seed).normal(mean, spread, n))


def test_a_jump_after_warmup_is_a_spike_with_its_z():
    detector = SpikeDetector("training loss")
    assert feed(detector, noisy(40)) == []
    # Five times the mean: a spike once the next step confirms it.
    assert detector.update(0, 40, 5.0) == []
    [spike] = detector.update(0, 41, 4.0)
    assert spike.kind == "loss_spike" and spike.layer is None
    assert spike.step == 40 and spike.value > 6 and spike.threshold == 6
    assert "standard deviations" in spike.message
    assert "5 is" in spike.message and "at the next step 4" in spike.message


def test_a_lone_outlier_batch_is_noise_that_widens_the_range():
    # One batch of hard samples in a noisy run: 6.7 times the mean.
    detector = SpikeDetector("training loss")
    feed(detector, noisy(40, mean=0.13, spread=0.1))
    assert detector.update(0, 40, 0.9) == []
    assert detector.update(0, 41, 0.12) == []
    assert detector.largest_z > 6
    # The outlier is now part of the range: the same batch again is not
    # six deviations out.
    assert detector.update(0, 42, 0.9) == [] == detector.update(0, 43, 0.9)


def test_a_step_ten_times_the_largest_of_the_window_is_a_spike_at_once():
    # A poisoned batch: no confirmation needed.
    detector = SpikeDetector("training loss")
    feed(detector, noisy(40))
    [spike] = detector.update(0, 40, 300.0)
    assert spike.step == 40


def test_during_warmup_only_a_jump_by_an_order_of_magnitude_is_a_spike():
    detector = SpikeDetector("training loss", warmup=32)
    # Noise and a fivefold rise are not judged before 32 steps of history.
    assert feed(detector, noisy(10) + [5.0]) == []
    # One step ten times the first ones: a lone batch, until the next
    # confirms it.
    assert detector.update(0, 11, 12.0) == []
    [jump] = detector.update(0, 12, 12.5)
    assert jump.step == 11 and jump.threshold == 10
    assert jump.value == pytest.approx(12.0 / max(noisy(3)))
    assert "times the largest of its first 3 steps" in jump.message
    # A hundred times at once needs no confirmation.
    [blow_up] = feed(SpikeDetector("training loss"), [2.3, 4.3, 680.0])
    assert blow_up.step == 2 and blow_up.value == pytest.approx(680.0 / 4.3)


def test_a_lone_early_batch_of_a_fine_tuned_model_is_not_a_jump():
    # Pretrained: the first losses are near 0, and one batch is 10 times them.
    detector = SpikeDetector("training loss")
    assert feed(detector, [0.004, 0.006, 0.005, 0.08, 0.005, 0.004]) == []


def test_a_blow_up_at_the_second_step_is_judged_against_the_first():
    # RMSprop at 0.3 (benchmarks/rescue.py): the second step's loss would
    # otherwise be among the reference values and hide its own jump.
    losses = [3.34, 1.03e9, 6.9e6, 1.6e7, 2.7e6]
    found, *staying_up = feed(SpikeDetector("training loss"), losses)
    assert found.step == 1 and found.threshold == 100
    assert [f.step for f in staying_up] == [3]
    assert "times its first step's (3.34" in found.message
    # One step 100 times the first alone is a lone batch until confirmed;
    # two steps ten times it are not a jump.
    assert feed(SpikeDetector("training loss"), [0.001, 0.2, 0.002]) == []
    assert feed(SpikeDetector("training loss"), [0.001, 0.02, 0.03]) == []


def test_a_blow_up_in_the_first_steps_is_caught_at_the_step_it_crosses():
    # A rate far too high: 2.3 at the start, 37 ten steps later.
    losses = [2.3, 2.1, 2.6, 3.5, 5.0, 8.0, 13.0, 19.0, 26.0, 37.0, 45.0]
    found = feed(SpikeDetector("training loss"), losses)
    assert [f.step for f in found] == [9]
    assert found[0].value == pytest.approx(37.0 / 2.6)


def test_a_spike_stays_out_of_the_window():
    detector = SpikeDetector("training loss")
    feed(detector, noisy(40))
    assert detector.update(0, 40, 12.0)
    assert detector.update(0, 41, 12.0), "judged against the same range"


def test_falling_losses_and_non_finite_values_are_not_spikes():
    detector = SpikeDetector("training loss")
    assert feed(detector, noisy(40) + [0.01, math.nan, math.inf]) == []


def test_a_flat_loss_needs_a_visible_jump():
    detector = SpikeDetector("training loss")
    feed(detector, [2.0] * 40)
    assert detector.update(0, 40, 2.0 + 1e-9) == []
    assert detector.update(0, 41, 2.5) == []
    [spike] = detector.update(0, 42, 2.5)
    assert spike.step == 41


@pytest.mark.parametrize("bad", [{"max_z": 0}, {"window": 0}, {"warmup": 1.5}])
def test_bad_arguments_are_rejected(bad):
    with pytest.raises(ValueError, match="Invalid value received"):
        SpikeDetector("training loss", **bad)


def test_a_wobble_near_a_loss_of_0_is_not_a_spike():
    # A net memorizing its data: the loss started at 0.6 and sits at 0.002.
    detector = SpikeDetector("training loss")
    feed(detector, [0.6, 0.55, 0.65] + noisy(130, mean=0.002, spread=0.0003))
    # 0.06 is about 200 deviations up, but 10% of where the loss started.
    assert detector.update(0, 133, 0.06) == []
    assert detector.largest_z == 6.0
    # Back to half of where it started, and staying: an instability worth
    # naming.
    assert detector.update(0, 134, 0.3) == []
    [spike] = detector.update(0, 135, 0.35)
    assert spike.step == 134 and spike.value > 6


def test_a_watched_fit_that_blows_up_in_its_first_steps_gets_a_spike(
    digit_images,
):
    # A convnet at SGD(5.0): the loss jumps by orders of magnitude within a
    # few steps, long before 32 steps of history.
    import keras

    import keras_trainwatch as ktw

    x, y = digit_images
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.SGD(5.0), "sparse_categorical_crossentropy")
    watch = ktw.GradientWatch((x[:64], y[:64]), on_finding=lambda f: None)
    running = []
    model.fit(
        x[:512],
        y[:512],
        epochs=1,
        verbose=0,
        callbacks=[
            watch,
            keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs: running.append(
                    logs["loss"]
                )
            ),
        ],
    )
    [spike] = [f for f in watch.findings if f.kind == "loss_spike"]
    assert spike.step < 16 and spike.threshold == 10
    assert "times the largest of its first" in spike.message
    # Independently: Keras's own running mean of the loss shows the jump.
    assert max(running[:16]) > 10 * running[0]
