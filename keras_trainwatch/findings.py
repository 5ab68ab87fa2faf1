"""Findings: what a detector concluded, where, on what evidence, and the fix."""

from __future__ import annotations

import dataclasses
import enum

from keras_trainwatch._validation import one_of


class FindingKind(str, enum.Enum):  # noqa: UP042 -- StrEnum is 3.11+
    """Every kind of finding, each written once with its title (for
    messages: "dead ReLU units") and its known remedy.

    A member is the string it names (`FindingKind.DEAD_RELU == "dead_relu"`),
    so kinds read back from event files compare equal to it.

    Example:

    ```python
    FindingKind("dead_relu").remedy  # "Lower the learning rate."
    ```
    """

    def __new__(cls, value: str, title: str, remedy: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.title = title
        member.remedy = remedy
        return member

    def __str__(self) -> str:
        return self.value

    VANISHING_GRADIENTS = (
        "vanishing_gradients",
        "vanishing gradients",
        "Use ReLU activations (with He initialization) in the hidden "
        "layers instead of saturating ones such as sigmoid or tanh.",
    )
    EXPLODING_GRADIENTS = (
        "exploding_gradients",
        "exploding gradients",
        "Add batch normalization between the layers, or lower the "
        "learning rate.",
    )
    DEAD_RELU = ("dead_relu", "dead ReLU units", "Lower the learning rate.")
    LOSS_SPIKE = (
        "loss_spike",
        "loss spike",
        "Lower the learning rate or clip the gradients; AutoLRReducer (its "
        "rollback is on by default) returns the run to its last healthy "
        "state, lowers the rate and skips the batches since.",
    )
    NO_GRADIENT = (
        "no_gradient",
        "no gradient",
        "Find what blocks every gradient: an output that is constant (softmax "
        "over one unit), a loss that does not depend on the weights, or "
        "layers that are all frozen.",
    )
    MISMATCHED_OUTPUT = (
        "mismatched_output",
        "mismatched output",
        "Match the output activation to the loss: softmax (or logits with "
        "from_logits=True) for categorical cross-entropy, sigmoid (or "
        "logits) for binary cross-entropy, linear for regression.",
    )
    MISSING_ACTIVATION = (
        "missing_activation",
        "missing activation",
        "Add a nonlinear activation (e.g. activation='relu') to the first "
        "layer, or remove one of the two.",
    )
    EXCESSIVE_DROPOUT = (
        "excessive_dropout",
        "excessive dropout",
        "Use a dropout rate between 0.1 and 0.5.",
    )
    SATURATED_UNITS = (
        "saturated_units",
        "saturated units",
        "Use ReLU activations in the hidden layers, or keep the "
        "pre-activations small: standardized inputs, Glorot initialization, "
        "batch normalization before the activation.",
    )
    SYMMETRIC_UNITS = (
        "symmetric_units",
        "symmetric units",
        "Initialize the kernel randomly (the default glorot_uniform, or "
        "he_normal for ReLU) instead of with a constant: identical units "
        "get identical updates and never become different.",
    )
    UNSCALED_DATA = (
        "unscaled_data",
        "unscaled data",
        "Standardize the data: subtract the mean and divide by the "
        "standard deviation of the training set (e.g. a "
        "keras.layers.Normalization layer adapted to it); scale regression "
        "targets the same way and undo it on the predictions.",
    )
    LOSS_NOT_IMPROVING = (
        "loss_not_improving",
        "loss not improving",
        "Check that inputs and labels match and are shuffled together, "
        "then the learning rate (too small for plain SGD: try Adam) and "
        "the other findings of this run.",
    )
    LOSS_OSCILLATING = (
        "loss_oscillating",
        "loss oscillating",
        "Lower the learning rate (or use AutoLRReducer), or use larger batches.",
    )


# The kinds as module constants (`findings.DEAD_RELU`), as the package has
# always exported them.
(
    VANISHING_GRADIENTS,
    EXPLODING_GRADIENTS,
    DEAD_RELU,
    LOSS_SPIKE,
    NO_GRADIENT,
    MISMATCHED_OUTPUT,
    MISSING_ACTIVATION,
    EXCESSIVE_DROPOUT,
    SATURATED_UNITS,
    SYMMETRIC_UNITS,
    UNSCALED_DATA,
    LOSS_NOT_IMPROVING,
    LOSS_OSCILLATING,
) = FindingKind
KINDS: tuple[str, ...] = tuple(kind.value for kind in FindingKind)
REMEDIES: dict[str, str] = {kind.value: kind.remedy for kind in FindingKind}

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

# When no saturating activation is on the path: the gradient shrinks through
# plain depth (initialization, missing skip connections), and ReLU is not
# the answer.
UNSATURATED_VANISHING_REMEDY = (
    "Add skip (residual) connections or normalization layers so that the "
    "gradient reaches the lower layers, and check the initialization (He for "
    "ReLU-like activations, Glorot otherwise)."
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """A training pathology found in one layer.

    A finding seen again at later probes is not reported again; its
    `last_*` fields and `occurrences` are updated instead. A finding that a
    later probe no longer shows is resolved (`resolved_step`): a short
    episode that passed on its own, told apart from a lasting one. If it comes
    back, it is active again and `episodes` counts the returns.

    Args:
        kind: One of `KINDS`: `"vanishing_gradients"`,
            `"exploding_gradients"`, `"dead_relu"`, `"loss_spike"`,
            `"no_gradient"`, the construction faults `"mismatched_output"`,
            `"missing_activation"`, `"excessive_dropout"`, the probe's
            `"saturated_units"`, `"symmetric_units"`, `"unscaled_data"`,
            and the loss's course `"loss_not_improving"`,
            `"loss_oscillating"`.
        layer: Name of the layer it was found in, or `None` when it concerns
            the model as a whole (a non-finite loss).
        epoch: 0-based epoch of the probe that first found it.
        step: Global training step of that probe (0 = before training).
        value: The measured value that crossed the threshold, or `None`
            for a finding about the model's construction, where nothing is
            measured.
        threshold: The threshold it crossed, or `None` likewise.
        message: One line naming the layer and the evidence.
        remedy: The known remedy for this kind of failure.
        last_epoch: Epoch of the latest probe that found it (`None` at
            construction means the first probe's).
        last_step: Step of the latest probe that found it (likewise).
        last_value: Value measured at that probe (likewise).
        occurrences: Number of probes that found it.
        resolved_epoch: Epoch of the first probe that no longer showed it,
            or `None` while it lasts.
        resolved_step: Step of that probe, or `None` while it lasts.
        episodes: How many separate stretches of probes showed it.
        episode_epoch: Epoch at which the current (latest) episode began
            (`None` at construction means the first probe's).
        episode_step: Step at which the current episode began (likewise).
        measure: What `value` (and `threshold`) measure, e.g. `"dead
            share of units"`, or `None` where nothing was measured.
    """

    kind: FindingKind
    layer: str | None
    epoch: int
    step: int
    value: float | None
    threshold: float | None
    message: str
    remedy: str = ""
    last_epoch: int | None = None
    last_step: int | None = None
    last_value: float | None = None
    occurrences: int = 1
    resolved_epoch: int | None = None
    resolved_step: int | None = None
    episodes: int = 1
    episode_epoch: int | None = None
    episode_step: int | None = None
    measure: str | None = None

    def __post_init__(self):
        one_of("kind", self.kind, KINDS)
        object.__setattr__(self, "kind", FindingKind(self.kind))
        if not self.remedy:
            object.__setattr__(self, "remedy", self.kind.remedy)
        for latest, first in (
            ("last_epoch", self.epoch),
            ("last_step", self.step),
            ("last_value", self.value),
            ("episode_epoch", self.epoch),
            ("episode_step", self.step),
        ):
            if getattr(self, latest) is None:
                object.__setattr__(self, latest, first)

    @property
    def where(self) -> str:
        """`"layer 'name'"`, or `"the loss"` for a model-wide finding."""
        return "the loss" if self.layer is None else f"layer '{self.layer}'"

    @property
    def active(self) -> bool:
        """Whether the latest probe still showed it."""
        return self.resolved_step is None

    @property
    def key(self) -> tuple[str, str | None]:
        """`(kind, layer)`: findings with the same key are the same finding."""
        return (self.kind, self.layer)

    def seen_again(self, later: Finding) -> Finding:
        """Returns this finding updated with a later sighting of it.

        Args:
            later: The same finding (same `key`) from a later probe.

        Returns:
            A copy with the `last_*` fields taken from `later`,
            `occurrences` incremented, and active again if it was resolved.
        """
        returns = not self.active
        return dataclasses.replace(
            self,
            last_epoch=later.epoch,
            last_step=later.step,
            last_value=later.value,
            occurrences=self.occurrences + 1,
            resolved_epoch=None,
            resolved_step=None,
            episodes=self.episodes + int(returns),
            episode_epoch=later.epoch if returns else self.episode_epoch,
            episode_step=later.step if returns else self.episode_step,
        )

    def episode(self) -> Finding:
        """The current episode as a finding of its own: its `epoch` and
        `step` are where the episode began (what the event files record, so
        that each episode is read back with its own end)."""
        return dataclasses.replace(
            self, epoch=self.episode_epoch, step=self.episode_step
        )

    def resolved_at(self, epoch: int, step: int) -> Finding:
        """Returns this finding marked resolved at the probe of `step`."""
        return dataclasses.replace(
            self, resolved_epoch=epoch, resolved_step=step
        )

    def __str__(self) -> str:
        return f"{self.message} Remedy: {self.remedy}"
