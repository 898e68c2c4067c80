import json

import numpy as np
import pytest

from classifiers.fasttext_model import ModelError, TrainingError, auc
from classifiers.quality import QualityModel, train_quality
from tests.classifiers.textgen import quality_set

# Floor for the small synthetic set (300 articles vs 300 spam, 10% held out): separable by vocabulary.
HELDOUT_AUC_FLOOR = 0.95
HELDOUT_ACCURACY_FLOOR = 0.9


def test_training_reaches_heldout_floor(small_models):
    metrics = small_models[1]["quality"]
    assert metrics["heldout_rows"] == 60
    assert metrics["heldout_auc"] >= HELDOUT_AUC_FLOOR
    assert metrics["heldout_accuracy"] >= HELDOUT_ACCURACY_FLOOR


def test_predict_scores_fresh_documents(small_models):
    model = QualityModel.load(small_models[0] / "quality_v1.bin")
    good, bad = quality_set(seed=99, n=50)
    scores = model.predict(good + bad)
    assert scores.dtype == np.float32 and scores.shape == (100,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert auc(scores, [True] * 50 + [False] * 50) >= HELDOUT_AUC_FLOOR
    assert model.predict([]).shape == (0,)


def test_card_records_metrics_and_hash(small_models):
    card = json.loads((small_models[0] / "quality_v1.json").read_text())
    assert card["kind"] == "quality" and card["labels"] == ["hq", "lq"]
    assert card["metrics"]["heldout_auc"] >= HELDOUT_AUC_FLOOR and len(card["sha256"]) == 64


def test_one_class_is_an_error(tmp_path):
    with pytest.raises(TrainingError, match="need both positive and negative"):
        train_quality(["some text here"] * 10, [], tmp_path / "q.bin")


def test_missing_model_names_the_file(tmp_path):
    with pytest.raises(ModelError, match=r"nope\.bin: quality model file not found"):
        QualityModel.load(tmp_path / "nope.bin")


def test_truncated_model_is_caught_by_its_card(small_models, tmp_path):
    src = small_models[0]
    data = (src / "quality_v1.bin").read_bytes()
    (tmp_path / "quality_v1.bin").write_bytes(data[: len(data) // 2])
    (tmp_path / "quality_v1.json").write_text((src / "quality_v1.json").read_text())
    with pytest.raises(ModelError, match="corrupt or truncated"):
        QualityModel.load(tmp_path / "quality_v1.bin")


def test_garbage_file_is_not_a_fasttext_model(tmp_path):
    (tmp_path / "q.bin").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match=r"q\.bin: not a fastText model file \(wrong magic number"):
        QualityModel.load(tmp_path / "q.bin", allow_uncarded=True)


def test_model_without_card_is_refused_unless_allowed(small_models, tmp_path):
    (tmp_path / "quality_v1.bin").write_bytes((small_models[0] / "quality_v1.bin").read_bytes())
    with pytest.raises(ModelError, match=r"quality_v1\.bin: quality model has no card quality_v1\.json.*"
                                         r"allow_uncarded_models"):
        QualityModel.load(tmp_path / "quality_v1.bin")
    model = QualityModel.load(tmp_path / "quality_v1.bin", allow_uncarded=True)
    assert model.predict(["some text"]).shape == (1,)


def test_card_that_is_not_a_card_is_refused(small_models, tmp_path):
    (tmp_path / "quality_v1.bin").write_bytes((small_models[0] / "quality_v1.bin").read_bytes())
    (tmp_path / "quality_v1.json").write_text('{"kind": "quality"}')
    with pytest.raises(ModelError, match=r"quality_v1\.json: not a model card"):
        QualityModel.load(tmp_path / "quality_v1.bin")


def test_truncated_uncarded_model_is_caught_by_the_header_walk(small_models, tmp_path):
    """The issue's case: a .bin cut short with no card loaded and scored every document 0.0."""
    data = (small_models[0] / "quality_v1.bin").read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 200):
        (tmp_path / "q.bin").write_bytes(data[:cut])
        with pytest.raises(ModelError, match=r"q\.bin: not a fastText model file \(truncated"):
            QualityModel.load(tmp_path / "q.bin", allow_uncarded=True)


def test_header_claiming_a_huge_dictionary_is_an_error_not_a_memory_error(small_models, tmp_path):
    import struct

    data = bytearray((small_models[0] / "quality_v1.bin").read_bytes())
    size_at = 8 + 12 * 4 + 8  # magic, version, 12 int32 arguments, one double
    words, labels = struct.unpack_from("<ii", data, size_at + 4)
    struct.pack_into("<ii", data, size_at, (1 << 30) + labels, 1 << 30)
    (tmp_path / "q.bin").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"q\.bin: not a fastText model file \(truncated: dictionary claims "
                                         r"1073741826 entries"):
        QualityModel.load(tmp_path / "q.bin", allow_uncarded=True)


def test_a_domain_model_is_not_a_quality_model(small_models):
    with pytest.raises(ModelError, match="is a domain model, not a quality model"):
        QualityModel.load(small_models[0] / "domain_v1.bin")


def test_auc_by_ranks():
    assert auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert auc([0.5, 0.5], [True, False]) == 0.5
    assert auc([0.9, 0.1], [False, True]) == 0.0
