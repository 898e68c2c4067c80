"""End-to-end dedup on a built corpus: known clusters, the same kept ids on 1, 2 and 7 input partitions."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.dedup import DedupJob
from pipeline.dedup import DedupConfig, text_fingerprints
from pipeline.document import document_arrow_schema
from pipeline.lsh import band_hashes
from pipeline.minhash import MinHasher

pytest.importorskip("pyspark")


def _prose(seed: int, n_words: int = 300) -> str:
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    start = random.Random(seed).randrange(len(words) - n_words)
    return " ".join(words[start : start + n_words])


def _edit(text: str, positions: list[int], tag: str) -> str:
    words = text.split()
    for p in positions:
        words[p] = f"{tag}{p}"
    return " ".join(words)


def _corpus() -> tuple[dict[str, str], dict[str, set[str]]]:
    a = _prose(1)
    b = _edit(a, [32, 68, 291], "bee")
    c = _edit(b, [60, 130], "cee")
    boiler = "Subscribe to our newsletter for weekly updates"
    texts = {
        "e1": _prose(2), "e2": _prose(2).upper().replace(" ", " , "), "e3": _prose(2),
        "ca": a, "cb": b, "cc": c,
        "empty1": "", "empty2": "!!! ...",
        "w1": "hello", "w2": "Hello.",
    }
    for i in range(6):
        texts[f"u{i}"] = _prose(100 + i) + f"\n{boiler}"
    # keeper first: the smallest id of an exact group; the chain's centre (it shares buckets with both ends)
    groups = {"e1": {"e1", "e2", "e3"}, "cb": {"ca", "cb", "cc"}, "empty1": {"empty1", "empty2"}, "w1": {"w1", "w2"}}
    return texts, groups


def _write_input(root, texts: dict[str, str], n_files: int) -> None:
    rows = [
        {"id": i, "url": f"https://ex.org/{i}", "domain": "ex.org", "warc_path": "w", "warc_offset": k,
         "fetch_time": "2024-01-01T00:00:00Z", "lang": "en", "lang_score": 0.9, "text": t, "n_chars": len(t)}
        for k, (i, t) in enumerate(sorted(texts.items()))
    ]
    random.Random(n_files).shuffle(rows)
    root.mkdir(parents=True)
    for f in range(n_files):
        table = pa.Table.from_pylist(rows[f::n_files], schema=document_arrow_schema())
        pq.write_table(table, root / f"in-{f}.parquet")


def test_chain_preconditions():
    """The chain really is a chain at the job's default parameters: a~b and b~c share a band, a and c do not."""
    texts, _ = _corpus()
    cfg = DedupConfig(line_max_occurrences=3)
    keys = band_hashes(MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures(
        [texts["ca"], texts["cb"], texts["cc"]]), *cfg.lsh_params(), cfg.seed)
    shared = lambda i, j: bool(set(keys[i]) & set(keys[j]))  # noqa: E731
    assert shared(0, 1) and shared(1, 2) and not shared(0, 2)
    fp = text_fingerprints([texts["e1"], texts["e2"], texts["e3"], texts["empty1"], texts["empty2"]])
    assert (fp[0] == fp[1]).all() and (fp[0] == fp[2]).all() and (fp[3] == fp[4]).all()


def test_dedup_job_same_kept_ids_on_any_layout(spark, tmp_path):
    texts, groups = _corpus()
    config = tmp_path / "run.toml"
    config.write_text("[dedup]\nline_max_occurrences = 3\n")
    kept_by_layout = {}
    for n_files in (1, 2, 7):
        _write_input(tmp_path / f"in{n_files}", texts, n_files)
        out = tmp_path / f"out{n_files}"
        assert DedupJob().main(["--input", str(tmp_path / f"in{n_files}"), "--output", str(out),
                                "--config", str(config)]) == 0
        table = pq.read_table(out).sort_by("id")
        kept_by_layout[n_files] = table.to_pylist()
        stats = json.loads((out / "_stats.json").read_text())
        assert stats["records_in"] == len(texts)
        assert stats["dropped"] == {"exact_duplicate": 4, "minhash_duplicate": 2}
        assert stats["counters"]["lines_removed"] == 3  # 6 boilerplate lines, 3 kept (first by id)
    assert kept_by_layout[1] == kept_by_layout[2] == kept_by_layout[7]
    rows = {r["id"]: r for r in kept_by_layout[1]}
    dropped = {m for g in groups.values() for m in g} - set(groups)
    assert set(rows) == set(texts) - dropped
    for keeper, members in groups.items():
        assert rows[keeper]["dup_cluster"] == keeper and rows[keeper]["dup_cluster_size"] == len(members)
    assert rows["u0"]["dup_cluster"] == "u0" and rows["u0"]["dup_cluster_size"] == 1
    boiler = [i for i in rows if i.startswith("u") and "Subscribe" in rows[i]["text"]]
    assert boiler == ["u0", "u1", "u2"]
    assert rows["u3"]["n_chars"] == len(rows["u3"]["text"])
    assert sorted(p.name for p in (tmp_path / "out2").iterdir())[0] == "_SUCCESS"
