"""The decisions of the model stage, kept apart from the models that score (STYLE practice 5).

Each takes scores and a threshold from [classify] and says what stays; none of them loads a model.
"""

from __future__ import annotations

import numpy as np


def remove_clutter(lines: list[str], scores: np.ndarray, threshold: float) -> tuple[str, int]:
    """Keep the lines whose P(content) is at least `threshold`; returns (cleaned text, lines removed)."""
    kept = [line for line, score in zip(lines, scores, strict=True) if score >= threshold]
    return "\n".join(kept), len(lines) - len(kept)


def keep_quality(quality: np.ndarray, min_quality: float) -> np.ndarray:
    """True where P(high quality) reaches `min_quality`."""
    return np.asarray(quality) >= min_quality


def keep_nonempty(texts: list[str]) -> np.ndarray:
    """A document whose every line was clutter has nothing left to keep."""
    return np.array([bool(t.strip()) for t in texts], dtype=bool)


def keep_web_types(types: list[str], keep: list[str], drop: list[str]) -> np.ndarray:
    """True where a page's web type is in `keep` (when given) and not in `drop`."""
    keep_set, drop_set = set(keep), set(drop)
    return np.array([(not keep_set or t in keep_set) and t not in drop_set for t in types], dtype=bool)
