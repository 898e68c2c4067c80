"""End to end on the shared local Spark: classified Parquet → shards, twice, byte for byte the same."""

import json
import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.tokenize_shards import TokenizeStage
from pipeline.shards.reader import ShardReader
from pipeline.tokenize.tokenizer import train_tokenizer
from tests.pipeline.tokenize.test_tokenizer import EOS, corpus_texts

pytestmark = pytest.mark.spark
N_DOCS = 6000


def write_classified(path, n_docs: int) -> dict[str, str]:
    """Two Parquet files shaped like the classify stage's output; returns id -> text."""
    path.mkdir()
    texts = corpus_texts(n_docs, seed=3)
    rng = random.Random(4)
    ids = [f"{i:08x}" for i in range(n_docs)]
    table = pa.table({
        "id": ids, "url": [f"https://site{i % 37}.example/{i}" for i in range(n_docs)],
        "domain": [f"site{i % 37}.example" for i in range(n_docs)],
        "lang": [rng.choice(["en", "de", "fr"]) for _ in ids], "text": texts,
        "quality": pa.array([rng.random() for _ in ids], pa.float32()),
        "category": [rng.choice(["news", "science", "sports"]) for _ in ids],
        "category_score": pa.array(np.ones(n_docs), pa.float32()),
        "weight": pa.array([rng.choice([0.5, 1.0, 1.0, 2.3]) for _ in ids], pa.float32()),
    })
    half = n_docs // 2
    pq.write_table(table.slice(0, half), path / "part-00000.parquet")
    pq.write_table(table.slice(half), path / "part-00001.parquet")
    return dict(zip(ids, texts, strict=True))


@pytest.fixture(scope="module")
def job(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("tokenize")
    texts = write_classified(root / "classified", N_DOCS)
    tokenizer = train_tokenizer(iter(corpus_texts(500)), vocab_size=600, eos_token=EOS)
    tokenizer.save(str(root / "tokenizer.json"))
    (root / "run.toml").write_text("[tokenize]\ntarget_shard_mb = 2\nrow_group_mb = 1\n")
    (root / "elsewhere").mkdir()  # the second run takes the same tokenizer from another path
    (root / "elsewhere" / "tok.json").write_bytes((root / "tokenizer.json").read_bytes())
    outputs = []
    for name, tokenizer_path in (("shards_a", root / "tokenizer.json"), ("shards_b", root / "elsewhere" / "tok.json")):
        argv = ["--input", str(root / "classified"), "--output", str(root / name), "--config",
                str(root / "run.toml"), "--tokenizer", str(tokenizer_path), "--master", "local[2]"]
        assert TokenizeStage().main(argv) == 0
        outputs.append(root / name)
    return {"texts": texts, "tokenizer": tokenizer, "outputs": outputs,
            "tokenizer_json": (root / "tokenizer.json").read_text()}


def test_shards_round_trip_to_the_text_plus_eos(job):
    out = job["outputs"][0]
    manifest = json.loads((out / "_manifest.json").read_text())
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["records_in"] == N_DOCS == stats["records_out"] + sum(stats["dropped"].values())
    assert stats["dropped"].get("downsampled", 0) > 0 and stats["counters"]["copies_added"] > 0
    assert manifest["documents"] == stats["records_out"] + stats["counters"]["copies_added"]
    assert len(manifest["shards"]) >= 2 and all(len(s["row_groups"]) >= 2 for s in manifest["shards"][:-1])
    assert manifest["config"]["tokenize"]["target_shard_mb"] == 2
    assert manifest["tokenizer"]["eos_id"] == job["tokenizer"].token_to_id(EOS)

    reader = ShardReader(str(out), verify=True)
    assert reader.tokenizer_json() == job["tokenizer_json"]
    seen, order = {}, []
    for doc in reader:
        source = doc.id.split("#")[0]
        order.append(source)
        seen[doc.id] = doc.n_tokens
        assert doc.tokens.dtype == np.uint32 and doc.n_tokens == len(doc.tokens)
        assert job["tokenizer"].decode(doc.tokens.tolist(), skip_special_tokens=False) == job["texts"][source] + EOS
    assert len(seen) == manifest["documents"] and sum(seen.values()) == manifest["tokens"]
    assert order != sorted(order)  # shuffled, not in input order
    copies = [i for i in seen if "#" in i]
    assert len(copies) == stats["counters"]["copies_added"] and all(i.split("#")[0] in seen for i in copies)


def test_two_runs_give_the_same_bytes(job):
    """Two output folders, the tokenizer read from two paths: the same bytes, manifest included (it names the
    tokenizer by its copy beside the shards and its sha256)."""
    a, b = job["outputs"]
    assert json.loads((a / "_manifest.json").read_text())["config"]["tokenize"]["tokenizer"] == "_tokenizer.json"
    names = sorted(p for p in os.listdir(a) if p != "_stage.json")
    assert names == sorted(p for p in os.listdir(b) if p != "_stage.json")
    assert "_manifest.json" in names and "_tokenizer.json" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_shards_open_in_other_readers(job):
    out = job["outputs"][0]
    total = json.loads((out / "_manifest.json").read_text())["documents"]
    files = sorted(str(p) for p in out.glob("shard-*.parquet"))
    pd = pytest.importorskip("pandas")
    assert sum(len(pd.read_parquet(f, columns=["id", "n_tokens"])) for f in files) == total
    polars = pytest.importorskip("polars")
    frame = polars.read_parquet(files)
    assert frame.height == total and frame["tokens"].list.len().sum() == frame["n_tokens"].sum()
    duckdb = pytest.importorskip("duckdb")
    assert duckdb.sql(f"select count(*) from read_parquet('{out}/shard-*.parquet')").fetchall()[0][0] == total
    assert duckdb.sql(f"select sum(len(tokens)) from read_parquet('{out}/shard-*.parquet')").fetchall()[0][0] == \
        sum(frame["n_tokens"])


def test_hf_datasets_reads_shards(job):
    datasets = pytest.importorskip("datasets", reason="HF datasets is not installed in the dev extra")
    out = job["outputs"][0]
    ds = datasets.load_dataset("parquet", data_files=sorted(str(p) for p in out.glob("shard-*.parquet")))
    assert ds["train"].num_rows == json.loads((out / "_manifest.json").read_text())["documents"]


def test_complete_output_is_not_redone(job, capsys):
    out = job["outputs"][0]
    argv = ["--input", str(out.parent / "classified"), "--output", str(out), "--tokenizer",
            str(out.parent / "tokenizer.json")]
    assert TokenizeStage().main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
