"""Domain classifier `domain_v1`: a supervised fastText taxonomy of any size (two to hundreds of classes).

Labels are category names; whitespace in a name becomes '_' because fastText labels are single tokens.
`predict` returns the top category and its probability; it decides nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import (
    LABEL_PREFIX,
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

    def __init__(self, model, path: str, max_chars: int = 20000):
        super().__init__(model, path, max_chars)
        self.categories = sorted(label.removeprefix(LABEL_PREFIX) for label in model.get_labels())

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """(top category, its probability) per text."""
        return top_label(self._model, [normalize(t, self.max_chars) for t in texts])

    @classmethod
    def examples(cls, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return items  # (label, normalized text) already

    @classmethod
    def evaluate(cls, model, train: list, held: list) -> dict:
        counts = Counter(label for label, _ in train + held)
        correct = 0
        if held:
            predicted, _ = model.predict([text for _, text in held], k=1)
            correct = sum(row[0] == LABEL_PREFIX + label for row, (label, _) in zip(predicted, held, strict=True))
        return {
            "classes": len(counts),
            "train_rows": len(train),
            "heldout_rows": len(held),
            "heldout_accuracy": round(correct / len(held), 4) if held else None,
            "smallest_class": min(counts.values()),
        }


@dataclass(kw_only=True)
class DomainTraining:
    holdout: float = 0.1
    max_chars: int = 20000
    params: TrainParams = field(default_factory=lambda: TrainParams(lr=0.3, epoch=15, word_ngrams=1))


def train_domain(texts: list[str], categories: list[str], output: str | Path,
                 settings: DomainTraining | None = None) -> dict:
    """Train on (text, category) rows; report held-out top-1 accuracy and per-class support."""
    settings = settings or DomainTraining()
    labels = [category_label(c) for c in categories]
    counts = Counter(labels)
    if len(counts) < 2:
        raise TrainingError(f"domain: the labelled set has one class ({next(iter(counts), 'none')}); "
                            "a classifier needs at least two categories")
    items = [(label, normalize(t, settings.max_chars)) for label, t in zip(labels, texts, strict=True)]
    return DomainModel.train(items, output, settings.holdout, settings.params)
