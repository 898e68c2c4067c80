"""Quality scorer `quality_v1`: a fastText binary classifier, score = P(high quality).

It scores only; dropping documents under `min_quality` is `classifiers.decisions.keep_quality`.
Train it as DCLM does: positives from a reference corpus you want more of, negatives from random crawl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import (
    FastTextClassifier,
    TrainingError,
    TrainParams,
    binary_metrics,
    label_probabilities,
    normalize,
)

HIGH, LOW = "hq", "lq"


class QualityModel(FastTextClassifier):
    kind = "quality"
    labels = frozenset({HIGH, LOW})

    def predict(self, texts: list[str]) -> np.ndarray:
        """P(high quality) per text, float32."""
        return label_probabilities(self._model, [normalize(t, self.max_chars) for t in texts], HIGH)

    @classmethod
    def evaluate(cls, model, train: list, held: list) -> dict:
        accuracy, area = binary_metrics(model, held, HIGH)
        return {"train_rows": len(train), "heldout_rows": len(held), "heldout_auc": area, "heldout_accuracy": accuracy}


@dataclass(kw_only=True)
class QualityTraining:
    holdout: float = 0.1
    max_chars: int = 20000
    params: TrainParams = field(default_factory=lambda: TrainParams(lr=0.1, epoch=10, word_ngrams=2))


def train_quality(positives: list[str], negatives: list[str], output: str | Path,
                  settings: QualityTraining | None = None) -> dict:
    """Train on two text lists minus a held-out split; the saved model is the one the reported AUC describes."""
    settings = settings or QualityTraining()
    if not positives or not negatives:
        raise TrainingError(f"quality: need both positive and negative documents "
                            f"(got {len(positives)} positive, {len(negatives)} negative)")
    items = [(HIGH, normalize(t, settings.max_chars)) for t in positives]
    items += [(LOW, normalize(t, settings.max_chars)) for t in negatives]
    return QualityModel.train(items, output, settings.holdout, settings.params)
