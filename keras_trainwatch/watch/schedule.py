"""When the watch probes: pure step arithmetic, apart from Keras."""

from __future__ import annotations

from keras_trainwatch._validation import optional_positive_int, positive_int


class ProbeSchedule:
    """Decides at which training steps the watch probes.

    With `every_n_steps=None` the watch probes at the end of every epoch;
    otherwise after the first execution of the training function that
    reaches each multiple of `every_n_steps`. One execution runs
    `steps_per_execution` steps (the last one of an epoch may run fewer), so
    the step is counted per execution and capped at the epoch's length.

    Args:
        every_n_steps: `None` or an integer >= 1.

    Example:

    ```python
    schedule = ProbeSchedule(every_n_steps=4)
    schedule.start_fit(step=0)
    schedule.start_epoch(steps_per_epoch=10, steps_per_execution=3)
    due = []
    for _ in range(4):  # steps 3, 6, 9, 10
        due.append(schedule.after_execution())
        if due[-1]:
            schedule.probed()
    due  # [False, True, True, False]
    ```
    """

    def __init__(self, every_n_steps: int | None = None):
        self.every_n_steps = optional_positive_int(
            "every_n_steps", every_n_steps
        )
        self.step = 0
        self.last_probe_step: int | None = None
        self._epoch_start_step = 0
        self._executions = 0
        self._steps_per_epoch: int | None = None
        self._steps_per_execution = 1

    @property
    def per_epoch(self) -> bool:
        """Whether probes happen at epoch ends (not every N steps)."""
        return self.every_n_steps is None

    @property
    def epoch_steps(self) -> int:
        """Steps run in the current epoch so far."""
        return self.step - self._epoch_start_step

    def start_fit(self, step: int) -> None:
        """A `fit` starts with the optimizer at `step`."""
        self.step = step
        self._epoch_start_step = step

    def start_epoch(
        self, steps_per_epoch: int | None, steps_per_execution: int = 1
    ) -> None:
        """An epoch starts at the current step.

        Args:
            steps_per_epoch: The epoch's length, when known.
            steps_per_execution: Steps one call of the train function runs.
        """
        self._epoch_start_step = self.step
        self._executions = 0
        self._steps_per_epoch = steps_per_epoch
        self._steps_per_execution = positive_int(
            "steps_per_execution", steps_per_execution
        )

    def after_execution(self) -> bool:
        """Counts one execution of the train function.

        Returns:
            Whether a probe is due now (every-N-steps mode only).
        """
        self._executions += 1
        steps_done = self._executions * self._steps_per_execution
        if self._steps_per_epoch:
            steps_done = min(steps_done, self._steps_per_epoch)
        self.step = self._epoch_start_step + steps_done
        if self.every_n_steps is None:
            return False
        last = self.last_probe_step or 0
        return self.step // self.every_n_steps > last // self.every_n_steps

    def end_epoch(self, step: int) -> bool:
        """An epoch ended with the optimizer at `step`.

        Returns:
            Whether a probe is due now (every-epoch mode only).
        """
        self.step = step
        return self.per_epoch

    def probed(self) -> None:
        """Records that a probe ran at the current step."""
        self.last_probe_step = self.step
