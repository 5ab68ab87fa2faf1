"""Keeping the findings of a run, each once."""

from __future__ import annotations

from collections.abc import Iterable

from keras_trainwatch.findings import Finding


class FindingLedger:
    """The findings of a run, each kept once.

    A finding whose `key` (kind, layer) was seen before updates the earlier
    record instead of being added again. The ledger holds at most one entry
    per kind and layer, so it stays bounded however long the run.

    Example:

    ```python
    ledger = FindingLedger()
    new = ledger.add(detector(record, recent_records))
    ```
    """

    def __init__(self):
        self.findings: list[Finding] = []
        self._position: dict[tuple[str, str | None], int] = {}

    def add(self, findings: Iterable[Finding]) -> list[Finding]:
        """Records findings from one probe.

        Args:
            findings: What the detectors found at this probe.

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
