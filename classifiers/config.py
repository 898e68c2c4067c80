"""Settings of the model-based stage. Owned by the classifiers stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True)
class ClassifyConfig:
    min_quality: float = 0.0
