"""Quality scorer `quality_v1`: a fastText binary classifier, score = P(high quality).

It scores only; dropping documents under `min_quality` is `classifiers.decisions.keep_quality`.
Train it as DCLM does: positives from a reference corpus you want more of, negatives from random crawl.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import (
    TrainingError,
    TrainParams,
    auc,
    label_probabilities,
    load_fasttext,
    normalize,
    split_holdout,
    train_fasttext,
    update_card_metrics,
)

log = logging.getLogger("sluice.classifiers")

HIGH, LOW = "hq", "lq"


class QualityModel:
    kind = "quality"

    def __init__(self, model, path: str, max_chars: int = 20000):
        self._model = model
        self.path = path
        self.max_chars = max_chars

    @classmethod
    def load(cls, path: str | Path, max_chars: int = 20000) -> QualityModel:
        return cls(load_fasttext(path, cls.kind, {HIGH, LOW}), str(path), max_chars)

    def predict(self, texts: list[str]) -> np.ndarray:
        """P(high quality) per text, float32."""
        return label_probabilities(self._model, [normalize(t, self.max_chars) for t in texts], HIGH)


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
    texts = [normalize(t, settings.max_chars) for t in positives + negatives]
    labels = [HIGH] * len(positives) + [LOW] * len(negatives)
    train_idx, held_idx = split_holdout(len(texts), settings.holdout, settings.params.seed)
    examples = [(labels[i], texts[i]) for i in train_idx]
    model = train_fasttext(examples, output, "quality", settings.params)
    held_texts = [texts[i] for i in held_idx]
    held_pos = np.array([labels[i] == HIGH for i in held_idx])
    scores = label_probabilities(model, held_texts, HIGH)
    metrics = {
        "train_rows": len(train_idx),
        "heldout_rows": len(held_idx),
        "heldout_auc": round(auc(scores, held_pos), 4),
        "heldout_accuracy": round(float(((scores >= 0.5) == held_pos).mean()), 4) if len(held_idx) else None,
    }
    update_card_metrics(output, metrics)
    log.info("quality: %s", metrics)
    return metrics
