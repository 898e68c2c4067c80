"""Formatters rewrite a document's text and never drop it; each is one class with a `format(text) -> str` hook."""

from pipeline.formatters.pii import PIIConfig, PIIFormatter

__all__ = ["PIIConfig", "PIIFormatter"]
