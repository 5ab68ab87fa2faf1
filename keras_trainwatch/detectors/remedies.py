"""Remedies that read the run: the optimizer, its learning rate and what was
found before, instead of the generic remedy of each kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from keras_trainwatch.findings import (
    DEAD_RELU,
    LOSS_NOT_IMPROVING,
    NO_GRADIENT,
    VANISHING_GRADIENTS,
    Finding,
)
from keras_trainwatch.learning_rate import LearningRateHandle

# A rate below this moves the weights too little for any optimizer to
# change the loss within a run.
TINY_RATE = 1e-5
# Optimizers without per-weight step sizes: a flat start lasts longest
# under them.
PLAIN_SGD = frozenset({"SGD"})


@dataclasses.dataclass(frozen=True)
class OptimizerInfo:
    """What the remedies say of the optimizer.

    Args:
        name: Its class name (`"Adam"`, `"SGD"`).
        learning_rate: Reads the rate in effect now.
    """

    name: str
    learning_rate: Callable[[], float]

    @classmethod
    def of(cls, model: keras.Model) -> OptimizerInfo | None:
        """The optimizer of a compiled `model`, or `None`."""
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            return None
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        return cls(type(inner).__name__, LearningRateHandle(optimizer).value)

    def describe(self) -> str:
        """`"0.001 with Adam"`."""
        return f"{self.learning_rate():.3g} with {self.name}"


class RemedyAdvisor:
    """Rewrites the remedies of a probe's findings for the run at hand.

    - `dead_relu` found after the first step (units alive at initialization
      died while training): the learning rate, named with its value.
    - `vanishing_gradients` and `no_gradient` in a run whose ReLU units died
      while training: the rate that killed them, not the generic remedy
      (skip connections, ReLU...).
    - `loss_not_improving`: a rate too small to move the weights is named;
      under plain SGD, a higher rate or Adam; under other optimizers, the
      data and labels first.

    Example:

    ```python
    advisor = RemedyAdvisor()
    advisor.attach(model)
    findings = advisor(findings)
    ```
    """

    def __init__(self):
        self.optimizer: OptimizerInfo | None = None
        self.reset()

    def attach(self, model: keras.Model) -> None:
        """Reads the optimizer of `model` (compiled)."""
        self.optimizer = OptimizerInfo.of(model)

    def reset(self) -> None:
        """Forgets the deaths seen (a new run)."""
        self._deaths: dict[str, int] = {}

    def __call__(self, findings: list[Finding]) -> list[Finding]:
        if self.optimizer is None:
            return findings
        for f in findings:
            if f.kind == DEAD_RELU and f.step > 0:
                self._deaths.setdefault(f.layer, f.step)
        return [self._advised(f) for f in findings]

    def _advised(self, finding: Finding) -> Finding:
        remedy = None
        if finding.kind == DEAD_RELU and finding.step > 0:
            remedy = (
                f"Lower the learning rate (now {self.optimizer.describe()}): "
                "these units were alive at initialization and died while "
                "training."
            )
        elif (
            finding.kind in (VANISHING_GRADIENTS, NO_GRADIENT) and self._deaths
        ):
            layer, step = next(iter(self._deaths.items()))
            remedy = (
                f"Lower the learning rate (now {self.optimizer.describe()}): "
                f"it killed the ReLU units of '{layer}' by step {step}, and no "
                "gradient passes dead units."
            )
        elif finding.kind == LOSS_NOT_IMPROVING:
            remedy = self._not_improving()
        if remedy is None:
            return finding
        return dataclasses.replace(finding, remedy=remedy)

    def _not_improving(self) -> str:
        rate = self.optimizer.learning_rate()
        now = f"{rate:.3g} with {self.optimizer.name}"
        if rate < TINY_RATE:
            return (
                f"Raise the learning rate: {now} moves the weights too little "
                "to change the loss (1e-3 is usual for Adam, 1e-2 for SGD); "
                "check too that the layers are not frozen."
            )
        if self.optimizer.name in PLAIN_SGD:
            return (
                f"Raise the learning rate (now {now}) or use Adam, which "
                "leaves a flat start much sooner; if it still does not learn, "
                "check that inputs and labels match."
            )
        return (
            "Check that inputs and labels match and are shuffled together; "
            f"then try a higher learning rate (now {now}) and see the other "
            "findings of this run."
        )
