import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers.domain import DomainModel, train_domain
from classifiers.fasttext_model import TrainingError
from classifiers.sources import read_records, read_texts
from tests.classifiers.textgen import TOPICS, domain_set

# Floor for six synthetic topics (600 two-paragraph documents, 10% held out).
HELDOUT_ACCURACY_FLOOR = 0.9


def test_training_reaches_heldout_floor(small_models):
    metrics = small_models[1]["domain"]
    assert metrics["classes"] == len(TOPICS)
    assert metrics["heldout_accuracy"] >= HELDOUT_ACCURACY_FLOOR


def test_predict_fresh_documents(small_models):
    model = DomainModel.load(small_models[0] / "domain_v1.bin")
    assert model.categories == sorted(TOPICS)
    texts, topics = domain_set(seed=77, n=120)
    names, scores = model.predict(texts)
    assert sum(a == b for a, b in zip(names, topics, strict=True)) / len(topics) >= HELDOUT_ACCURACY_FLOOR
    assert ((scores > 0) & (scores <= 1)).all()


def test_one_class_is_an_error(tmp_path):
    texts, _ = domain_set(seed=1, n=50)
    with pytest.raises(TrainingError, match="one class"):
        train_domain(texts, ["science"] * 50, tmp_path / "d.bin")


def test_category_names_with_spaces_become_single_labels(tmp_path):
    texts, topics = domain_set(seed=4, n=300)
    train_domain(texts, [f"{t} and more" for t in topics], tmp_path / "d.bin")
    assert "science_and_more" in DomainModel.load(tmp_path / "d.bin").categories


def test_sources_read_jsonl_parquet_plain_and_globs(tmp_path):
    rows = [{"text": "first doc", "category": "a"}, {"text": "second doc", "category": "b"}]
    (tmp_path / "one.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "two.parquet")
    (tmp_path / "three.txt").write_text("plain one\n\nplain two\n")
    assert read_texts(str(tmp_path / "one.jsonl")) == ["first doc", "second doc"]
    assert read_records(str(tmp_path / "*.parquet"), ["text", "category"]) == rows
    assert read_texts(str(tmp_path / "three.txt")) == ["plain one", "plain two"]
    assert len(read_texts(str(tmp_path / "*"))) == 6
    with pytest.raises(TrainingError, match="no column 'label'"):
        read_records(str(tmp_path / "two.parquet"), ["text", "label"])
    with pytest.raises(TrainingError, match="no input files found"):
        read_texts(str(tmp_path / "missing-*.jsonl"))
