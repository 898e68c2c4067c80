"""Tokenizer training, batch encoding with EOS, weight copies and the drops of tokenize_batch."""

import math
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.tokenizer_cli import main
from pipeline.config import ConfigError
from pipeline.stats import DropReason
from pipeline.tokenize.tokenizer import (
    DOWNSAMPLED,
    TokenizeConfig,
    copy_counts,
    encode_texts,
    eos_id,
    load_tokenizer,
    sample_texts,
    tokenize_batch,
    train_tokenizer,
)

EOS = "<|endoftext|>"
WORDS_TEXT = """the river runs past old stone bridges while children play near water; der Fluss fließt an alten
Brücken vorbei, während Kinder spielen; la rivière coule près des ponts; река течёт; 川が流れる
données ünïcödé naïve café 🙂 1,234.56 $%&* <tag> {json: 1}"""
WORDS = WORDS_TEXT.split()


def corpus_texts(n: int, seed: int = 0) -> list[str]:
    """Deterministic multilingual texts with the whitespace a byte-level BPE must keep exactly."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 30))) for _ in range(rng.randint(1, 6))]
        texts.append(rng.choice(["", "  ", "\t"]) + rng.choice(["\n", "\r\n", "\n\n"]).join(lines))
    return texts


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(iter(corpus_texts(300)), vocab_size=400, eos_token=EOS)


def test_encode_round_trips_with_eos(tokenizer):
    texts = corpus_texts(50, seed=1) + ["x", "日本語だけ"]
    eos = eos_id(tokenizer, EOS)
    tokens = encode_texts(tokenizer, texts, eos)
    assert tokens.type == pa.list_(pa.uint32())
    for text, ids in zip(texts, tokens.to_pylist(), strict=True):
        assert ids[-1] == eos and eos not in ids[:-1]
        assert tokenizer.decode(ids, skip_special_tokens=False) == text + EOS
        assert ids[:-1] == tokenizer.encode(text, add_special_tokens=False).ids


def test_eos_must_exist(tokenizer):
    with pytest.raises(ConfigError, match="no token '<eos>'"):
        eos_id(tokenizer, "<eos>")
    with pytest.raises(ConfigError, match="bad.json: not a valid tokenizer.json"):
        load_tokenizer("{not json", "bad.json")


def test_copy_counts_are_deterministic_and_unbiased():
    ids = [f"doc-{i}" for i in range(20000)]
    weights = np.full(len(ids), 1.3)
    copies = copy_counts(ids, weights, seed=0, max_copies=16)
    assert set(np.unique(copies)) == {1, 2}
    assert abs(copies.mean() - 1.3) < 0.02
    assert (copy_counts(ids, weights, seed=0, max_copies=16) == copies).all()
    assert not (copy_counts(ids, weights, seed=1, max_copies=16) == copies).all()
    assert copy_counts(["a", "b"], np.array([0.0, 100.0]), 0, max_copies=4).tolist() == [0, 4]


def test_tokenize_batch_copies_drops_and_defaults(tokenizer):
    batch = pa.RecordBatch.from_pydict({
        "id": ["a", "b", None, "d", "e", "f"],
        "text": ["alpha text", "beta text", "no id", "", "bad weight", "gamma"],
        "weight": pa.array([1.0, 3.0, 1.0, 1.0, -1.0, 0.0], pa.float32()),
        "category": ["news", None, "x", "x", "x", "x"],
    })
    out, stats = tokenize_batch(batch, tokenizer, eos_id(tokenizer, EOS), TokenizeConfig())
    assert stats.balanced() and stats.records_in == 6 and stats.records_out == 2
    assert stats.dropped == {DropReason.MALFORMED_RECORD: 2, DropReason.EMPTY_TEXT: 1, DOWNSAMPLED: 1}
    assert stats.counters["copies_added"] == 2
    assert out.column("id").to_pylist() == ["a", "b", "b#1", "b#2"]
    assert out.column("category").to_pylist() == ["news", "unknown", "unknown", "unknown"]
    assert all(math.isnan(q) for q in out.column("quality").to_pylist())  # no classifier ran: NaN, not a score
    assert out.column("tokens")[1] == out.column("tokens")[3]
    assert stats.counters["tokens"] == sum(out.column("n_tokens").to_pylist())
    keys = out.column("shuffle_key").to_numpy()
    assert (keys >= 0).all() and len(set(keys)) == 4


def test_config_validation():
    with pytest.raises(ConfigError, match="tokenize.target_shard_mb"):
        TokenizeConfig(target_shard_mb=0)
    with pytest.raises(ConfigError, match="row_group_mb"):
        TokenizeConfig(target_shard_mb=4, row_group_mb=8)


def test_tokenizer_train_command(tmp_path):
    docs = tmp_path / "documents"
    docs.mkdir()
    texts = corpus_texts(400, seed=2)
    for i in range(2):
        pq.write_table(pa.table({"id": [str(j) for j in range(200)], "text": texts[i * 200:(i + 1) * 200]}),
                       docs / f"part-{i:05d}.parquet")
    sampled = list(sample_texts(str(docs), max_bytes=4000))
    assert 0 < sum(len(t.encode()) for t in sampled) < 4000 + 2 * max(len(t.encode()) for t in texts)
    assert sampled[-1] in texts[200:]  # both files contribute
    out = tmp_path / "tokenizer.json"
    assert main(["train", "--input", str(docs), "--vocab-size", "300", "--output", str(out)]) == 0
    trained = load_tokenizer(out.read_text())
    assert trained.get_vocab_size() == 300 and trained.token_to_id(EOS) == 0
    assert main(["train", "--input", str(tmp_path / "none"), "--vocab-size", "300", "--output", str(out)]) == 2
