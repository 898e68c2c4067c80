"""The one shape every rule-based step has: a class with a single `filter` hook that says keep, or why not."""

from __future__ import annotations

from typing import ClassVar

from pipeline.document import Document


class Filter:
    """A rule-based step. `filter` returns True to keep, or (False, reason) to drop with a reason from DropReason."""

    name: ClassVar[str] = "filter"
    last_value: float | None = None  # what the rule that dropped the last document measured, when it says

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        raise NotImplementedError

    def _drop(self, rule: str, value: float | None = None) -> tuple[bool, str]:
        """The verdict of a rule-based filter that drops: reason "<name>:<rule>", the measured value remembered."""
        self.last_value = value  # what the rule measured, for the dropped-documents audit (pipeline/audit.py)
        return False, f"{self.name}:{rule}"

    def __call__(self, doc: Document) -> str | None:
        """None when the document is kept, else the drop reason."""
        verdict = self.filter(doc)
        if verdict is True:
            return None
        if verdict is False:
            return self.name
        keep, reason = verdict
        return None if keep else reason
