import pytest

from keras_trainwatch.watch.schedule import ProbeSchedule

pytestmark = pytest.mark.fast


def due_steps(schedule, executions):
    return [
        schedule.step for _ in range(executions) if schedule.after_execution()
    ]


@pytest.mark.parametrize(
    "every, steps_per_execution, steps_per_epoch, expected",
    [
        (4, 1, 10, [4, 8]),
        (4, 3, 10, [6, 9]),  # the first execution that reaches each multiple
        (2, 4, 10, [4, 8, 10]),  # the last execution runs 2 steps, capped
        (1, 1, 3, [1, 2, 3]),
    ],
)
def test_probes_after_the_execution_that_reaches_each_multiple(
    every, steps_per_execution, steps_per_epoch, expected
):
    schedule = ProbeSchedule(every)
    schedule.start_fit(0)
    schedule.start_epoch(steps_per_epoch, steps_per_execution)
    due = []
    for _ in range(-(-steps_per_epoch // steps_per_execution)):
        if schedule.after_execution():
            due.append(schedule.step)
            schedule.probed()
    assert due == expected


def test_counting_continues_across_epochs_and_fits():
    schedule = ProbeSchedule(5)
    schedule.start_fit(0)
    due = []
    for _ in range(2):
        schedule.start_epoch(3)
        for _ in range(3):
            if schedule.after_execution():
                due.append(schedule.step)
                schedule.probed()
    schedule.start_fit(6)  # a second fit resumes from the optimizer's step
    schedule.start_epoch(6)
    for _ in range(6):
        if schedule.after_execution():
            due.append(schedule.step)
            schedule.probed()
    assert due == [5, 10]


def test_per_epoch_mode_probes_at_epoch_ends_only():
    schedule = ProbeSchedule(None)
    schedule.start_fit(0)
    schedule.start_epoch(4)
    assert not any(schedule.after_execution() for _ in range(4))
    assert schedule.end_epoch(4)
    assert schedule.step == 4


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_every_n_steps_is_rejected(bad):
    with pytest.raises(ValueError, match="`every_n_steps`.*Received"):
        ProbeSchedule(bad)
