"""Keeping the findings of a run, each once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from keras_trainwatch.findings import Finding


@dataclasses.dataclass(frozen=True)
class LedgerUpdate:
    """How one probe changed the findings.

    Args:
        new: Findings seen for the first time.
        returned: Resolved findings that came back.
        lasting: Active findings the probe still showed.
        resolved: Active findings the probe no longer showed.
    """

    new: list[Finding]
    returned: list[Finding]
    lasting: list[Finding]
    resolved: list[Finding]

    @property
    def present(self) -> list[Finding]:
        """Every finding the probe showed (new, returned and lasting)."""
        return self.new + self.returned + self.lasting


class FindingLedger:
    """The findings of a run, each kept once.

    A finding whose `key` (kind, layer) was seen before updates the earlier
    record instead of being added again; an active finding that a probe no
    longer shows is marked resolved. The ledger holds at most one entry per
    kind and layer, so it stays bounded however long the run.

    Example:

    ```python
    ledger = FindingLedger()
    update = ledger.update(detector(record, recent_records), epoch, step)
    update.new, update.resolved
    ```
    """

    def __init__(self):
        self.findings: list[Finding] = []
        self._position: dict[tuple[str, str | None], int] = {}

    @property
    def active(self) -> list[Finding]:
        """The findings the latest probe showed."""
        return [f for f in self.findings if f.active]

    def add(self, findings: Iterable[Finding]) -> list[Finding]:
        """Records findings without resolving anything (for findings that do
        not come from a full probe).

        Returns:
            The findings not seen before, in order.
        """
        new = []
        for finding in findings:
            position = self._position.get(finding.key)
            if position is None:
                self._position[finding.key] = len(self.findings)
                self.findings.append(finding)
                new.append(finding)
            else:
                earlier = self.findings[position]
                self.findings[position] = earlier.seen_again(finding)
        return new

    def sighted(self, findings: Iterable[Finding]) -> LedgerUpdate:
        """Records findings seen between probes (a loss spike), resolving
        nothing.

        Returns:
            A `LedgerUpdate` with no resolved findings.
        """
        findings = list(findings)
        was_active = {f.key for f in self.findings if f.active}
        known = set(self._position)
        new_findings = self.add(findings)
        keys = list(dict.fromkeys(f.key for f in findings))
        returned = [
            self.findings[self._position[k]]
            for k in keys
            if k in known and k not in was_active
        ]
        lasting = [
            self.findings[self._position[k]] for k in keys if k in was_active
        ]
        return LedgerUpdate(new_findings, returned, lasting, [])

    def update(
        self,
        findings: Iterable[Finding],
        epoch: int,
        step: int,
        recovered: Callable[[Finding], bool] = lambda finding: True,
    ) -> LedgerUpdate:
        """Records everything one probe found: what it no longer shows is
        resolved, if it `recovered`.

        Args:
            findings: What the detectors found at this probe.
            epoch: The probe's epoch.
            step: The probe's step.
            recovered: Whether an active finding the probe no longer shows
                has really ended (a layer whose gradient turned exactly 0
                or non-finite no longer shows "vanishing gradients", and has
                not recovered): see `records.recovered`.

        Returns:
            A `LedgerUpdate`.
        """
        findings = list(findings)
        was_active = {f.key for f in self.findings if f.active}
        sighting = self.sighted(findings)
        seen = {f.key for f in findings}
        resolved = []
        for key in was_active - seen:
            position = self._position[key]
            earlier = self.findings[position]
            if earlier.last_step == step or not recovered(earlier):
                # Seen at this very step (a spike between the steps, then
                # the probe right after it), or worse than before.
                continue
            finding = self.findings[position].resolved_at(epoch, step)
            self.findings[position] = finding
            resolved.append(finding)
        resolved.sort(key=lambda f: self._position[f.key])
        return dataclasses.replace(sighting, resolved=resolved)
