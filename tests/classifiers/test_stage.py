import random

import pyarrow as pa
import pytest

from classifiers.balance import CategoryBalancer
from classifiers.config import BalanceConfig, ClassifyConfig
from classifiers.fasttext_model import ModelError
from classifiers.stage import ModelStage, add_weights
from pipeline.stats import DropReason, Stats
from tests.classifiers.textgen import page, spam


def documents(n_pages: int = 12, n_spam: int = 4, seed: int = 5) -> pa.Table:
    rng = random.Random(seed)
    texts = ["\n".join(page(rng, "cooking")[0]) for _ in range(n_pages)] + [spam(rng) for _ in range(n_spam)]
    texts.append("Share this\nRelated posts")  # nothing but clutter
    return pa.table({"id": [f"doc{i}" for i in range(len(texts))], "text": texts,
                     "n_chars": [len(t) for t in texts]})


def test_stage_cleans_scores_drops_and_weighs(small_models):
    config = ClassifyConfig(min_quality=0.5, balance=BalanceConfig(targets={"cooking": 2.5}))
    stage = ModelStage(small_models[0], config)
    stats = Stats(stage="classify")
    out = add_weights(stage.score_batch(documents(), stats), CategoryBalancer(config.balance))
    assert out.num_rows == 12 and stats.balanced()
    assert stats.dropped == {DropReason.LOW_QUALITY: 4, DropReason.EMPTY_TEXT: 1}
    assert stats.counters["clutter_lines_removed"] > 0
    rows = out.to_pylist()
    assert all(r["category"] == "cooking" and r["weight"] == 2.5 and r["quality"] >= 0.5 for r in rows)
    assert all("Share this" not in r["text"] and r["n_chars"] == len(r["text"]) for r in rows)
    assert out.column_names == ["id", "text", "n_chars", "quality", "category", "category_score", "weight"]


def test_models_can_be_switched_off(small_models):
    stage = ModelStage(small_models[0], ClassifyConfig(clutter_model="", quality_model="", domain_model=""))
    stats = Stats()
    out = stage.score_batch(documents(2, 0), stats)
    assert out.num_rows == 3 and out.column("quality").to_pylist() == [1.0] * 3
    assert out.column("category").to_pylist() == [""] * 3


def test_missing_model_fails_naming_the_file(tmp_path):
    with pytest.raises(ModelError, match=r"clutter_v1\.bin: clutter model file not found"):
        ModelStage(tmp_path, ClassifyConfig())
    with pytest.raises(ModelError, match="unknown model name 'quality_v9'"):
        ModelStage(tmp_path, ClassifyConfig(clutter_model="", quality_model="quality_v9"))
