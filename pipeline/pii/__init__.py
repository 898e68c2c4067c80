"""Personal-data masking (the extract stage's formatter): it rewrites a document's text and never drops it; one class
with a `format(text) -> str` hook."""

from pipeline.pii.formatter import PIIConfig, PIIFormatter

__all__ = ["PIIConfig", "PIIFormatter"]
