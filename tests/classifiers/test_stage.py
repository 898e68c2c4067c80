import random

import pyarrow as pa
import pytest

from classifiers.balance import CategoryBalancer
from classifiers.config import BalanceConfig, ClassifyConfig
from classifiers.fasttext_model import ModelError
from classifiers.stage import EMPTY_INPUT, DropShareError, ModelStage, add_weights, check_drop_share
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


def test_model_without_card_is_refused_by_the_stage_unless_allowed(small_models, tmp_path):
    import shutil

    shutil.copy(small_models[0] / "quality_v1.bin", tmp_path / "quality_v1.bin")
    only_quality = {"clutter_model": "", "domain_model": ""}
    with pytest.raises(ModelError, match=r"quality_v1\.bin: quality model has no card"):
        ModelStage(tmp_path, ClassifyConfig(**only_quality))
    stage = ModelStage(tmp_path, ClassifyConfig(**only_quality, allow_uncarded_models=True))
    assert stage.quality is not None


def test_drop_share_over_the_limit_stops_naming_the_model(small_models):
    config = ClassifyConfig(min_quality=0.5)
    stats = Stats(stage="classify")
    ModelStage(small_models[0], config).score_batch(documents(1, 9), stats)  # 1 page, 9 spam, 1 all-clutter
    assert stats.dropped[DropReason.LOW_QUALITY] == 9 and stats.records_in == 11
    with pytest.raises(DropShareError, match=r"model quality_v1 would drop 9 of 11 documents \(low_quality\), "
                                             r"90\.9% dropped in all, more than classify\.max_drop_share = 0\.9"):
        check_drop_share(stats, config)
    check_drop_share(stats, ClassifyConfig(min_quality=0.5, max_drop_share=0.95))  # under the limit: nothing


def test_drop_share_names_the_clutter_model_when_it_empties_documents():
    stats = Stats(stage="classify", records_in=10, records_out=0)
    stats.drop(DropReason.EMPTY_TEXT, 10)
    stats.count(EMPTY_INPUT, 1)  # one arrived empty: not the model's doing
    with pytest.raises(DropShareError, match=r"model clutter_v1 would drop 9 of 10 documents \(every line removed"):
        check_drop_share(stats, ClassifyConfig())


def test_dropped_documents_are_kept_for_the_audit(tmp_path):
    import pyarrow as pa

    from classifiers.config import ClassifyConfig
    from classifiers.stage import ModelStage
    from pipeline.audit import AuditConfig, DroppedSample
    from pipeline.stats import Stats

    stage = ModelStage(tmp_path, ClassifyConfig(clutter_model="", quality_model="", domain_model=""))
    dropped = DroppedSample(AuditConfig(keep_dropped=1))
    batch = pa.table({"id": ["a", "b", "c"], "url": ["u1", "u2", "u3"], "text": ["words", "  ", ""]})
    out = stage.score_batch(batch, Stats(), dropped)
    assert out.column("id").to_pylist() == ["a"]
    assert [(r["id"], r["reason"], r["url"]) for r in dropped.rows] == [("b", "empty_text", "u2")]  # keep_dropped 1
