"""Findings: what a detector concluded, where, on what evidence, and the fix."""

from __future__ import annotations

import dataclasses

VANISHING_GRADIENTS = "vanishing_gradients"
EXPLODING_GRADIENTS = "exploding_gradients"
DEAD_RELU = "dead_relu"
KINDS = (VANISHING_GRADIENTS, EXPLODING_GRADIENTS, DEAD_RELU)

# The known remedies when gradients vanish through the steps of a recurrent
# layer rather than through the depth of the network.
RECURRENT_VANISHING_REMEDY = (
    "Use gated recurrent layers (LSTM or GRU) instead of a plain RNN, or "
    "shorter sequences."
)
GATED_RECURRENT_VANISHING_REMEDY = (
    "Shorten the sequences, or connect distant steps directly (attention, "
    "skip connections over time)."
)

REMEDIES = {
    VANISHING_GRADIENTS: (
        "Use ReLU activations (with He initialization) in the hidden "
        "layers instead of saturating ones such as sigmoid or tanh."
    ),
    EXPLODING_GRADIENTS: (
        "Add batch normalization between the layers, or lower the "
        "learning rate."
    ),
    DEAD_RELU: "Lower the learning rate.",
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """A training pathology found in one layer.

    A finding seen again at later probes is not reported again; its
    `last_*` fields and `occurrences` are updated instead.

    Args:
        kind: One of `"vanishing_gradients"`, `"exploding_gradients"`,
            `"dead_relu"`.
        layer: Name of the layer it was found in.
        epoch: 0-based epoch of the probe that first found it.
        step: Global training step of that probe (0 = before training).
        value: The measured value that crossed the threshold.
        threshold: The threshold it crossed.
        message: One line naming the layer and the evidence.
        remedy: The known remedy for this kind of failure.
        last_epoch: Epoch of the latest probe that found it.
        last_step: Step of the latest probe that found it.
        last_value: Value measured at that probe.
        occurrences: Number of probes that found it.
    """

    kind: str
    layer: str
    epoch: int
    step: int
    value: float
    threshold: float
    message: str
    remedy: str = ""
    last_epoch: int = -1
    last_step: int = -1
    last_value: float = float("nan")
    occurrences: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(
                f"Invalid value received for argument `kind`. Expected one of "
                f"{KINDS}. Received: kind={self.kind!r}"
            )
        if not self.remedy:
            object.__setattr__(self, "remedy", REMEDIES[self.kind])
        if self.last_epoch < 0:
            object.__setattr__(self, "last_epoch", self.epoch)
        if self.last_step < 0:
            object.__setattr__(self, "last_step", self.step)
        if self.last_value != self.last_value:  # NaN: not set
            object.__setattr__(self, "last_value", self.value)

    @property
    def key(self) -> tuple[str, str]:
        """`(kind, layer)`: findings with the same key are the same finding."""
        return (self.kind, self.layer)

    def seen_again(self, later: Finding) -> Finding:
        """Returns this finding updated with a later sighting of it.

        Args:
            later: The same finding (same `key`) from a later probe.

        Returns:
            A copy with the `last_*` fields taken from `later` and
            `occurrences` incremented.
        """
        return dataclasses.replace(
            self,
            last_epoch=later.epoch,
            last_step=later.step,
            last_value=later.value,
            occurrences=self.occurrences + 1,
        )

    def __str__(self) -> str:
        return f"{self.message} Remedy: {self.remedy}"
