"""Domain classifier `domain_v1`: a supervised fastText taxonomy of any size (two to hundreds of classes).

Labels are category names; whitespace in a name becomes '_' because fastText labels are single tokens.
`predict` returns the top category and its probability; it decides nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import (
    FastTextClassifier,
    TrainingError,
    TrainParams,
    normalize,
    top_label,
)


def category_label(name: str) -> str:
    label = re.sub(r"\s+", "_", str(name).strip())
    if not label:
        raise TrainingError("domain: empty category name in the labelled set")
    return label


class DomainModel(FastTextClassifier):
    kind = "domain"

    @property
    def categories(self) -> list[str]:
        return self.classes

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """(top category, its probability) per text."""
        return top_label(self._model, [normalize(t, self.max_chars) for t in texts])


@dataclass(kw_only=True)
class DomainTraining:
    holdout: float = 0.1
    max_chars: int = 20000
    params: TrainParams = field(default_factory=lambda: TrainParams(lr=0.3, epoch=15, word_ngrams=1))


def train_domain(texts: list[str], categories: list[str], output: str | Path,
                 settings: DomainTraining | None = None) -> dict:
    """Train on (text, category) rows; report held-out top-1 accuracy and per-class support."""
    settings = settings or DomainTraining()
    items = [(category_label(c), normalize(t, settings.max_chars)) for c, t in zip(categories, texts, strict=True)]
    return DomainModel.train(items, output, settings.holdout, settings.params)
