"""End-to-end dedup on a built corpus: known clusters, verified candidates, the same kept ids on 1 and 7 input
partitions, and the same near-duplicate decision as the plain-Python oracle (pipeline.dedup.oracle)."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.dedup import DedupStage
from pipeline.dedup.lsh import band_hashes
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.oracle import reference_components, reference_near_duplicate_clusters
from pipeline.dedup.primitives import DedupConfig, text_fingerprints
from pipeline.document import document_arrow_schema
from tests.pipeline.dedup.test_oracle import VERIFY_CONFIG, chain_and_pair, prose

pytest.importorskip("pyspark")


def _corpus() -> tuple[dict[str, str], dict[str, set[str]]]:
    boiler = "Subscribe to our newsletter for weekly updates"
    texts = {
        "e1": prose(2), "e2": prose(2).upper().replace(" ", " , "), "e3": prose(2),
        **chain_and_pair(),
        "empty1": "", "empty2": "!!! ...",
        "w1": "hello", "w2": "Hello.",
    }
    for i in range(6):
        texts[f"u{i}"] = prose(100 + i) + f"\n{boiler}"
    # keeper first: the smallest id of an exact group; the chain's centre (it shares buckets with both ends);
    # p1 and p2 share buckets but are rejected by verification (tests/pipeline/dedup/test_oracle.py: the premises)
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


def _reference(texts: dict[str, str], cfg: DedupConfig):
    """The oracle (reference_near_duplicate_clusters) on the representatives of the exact groups (smallest ids)."""
    ids = sorted(texts)
    fp = text_fingerprints([texts[i] for i in ids])
    reps = sorted({tuple(f): i for i, f in reversed(list(zip(ids, fp.tolist(), strict=True)))}.values())
    sig = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures([texts[i] for i in reps])
    keys = band_hashes(sig, *cfg.lsh_params(), cfg.seed)
    return reference_near_duplicate_clusters(reps, [k.tolist() for k in keys], sig, cfg.threshold, cfg.verify,
                                   cfg.verify_rounds)


def test_dedup_job_same_kept_ids_on_any_layout(spark, tmp_path):
    texts, groups = _corpus()
    config = tmp_path / "run.toml"
    settings = "".join(f"{k} = {v}\n" for k, v in VERIFY_CONFIG.items())
    config.write_text(f"[dedup]\nline_max_occurrences = 3\n{settings}")
    reference = _reference(texts, DedupConfig(line_max_occurrences=3, **VERIFY_CONFIG))
    kept_by_layout = {}
    for n_files in (1, 7):
        _write_input(tmp_path / f"in{n_files}", texts, n_files)
        out = tmp_path / f"out{n_files}"
        assert DedupStage().main(["--input", str(tmp_path / f"in{n_files}"), "--output", str(out),
                                "--config", str(config)]) == 0
        table = pq.read_table(out).sort_by("id")
        kept_by_layout[n_files] = table.to_pylist()
        stats = json.loads((out / "_stats.json").read_text())
        assert stats["records_in"] == len(texts)
        assert stats["dropped"] == {"exact_duplicate": 4, "minhash_duplicate": 2}
        assert stats["counters"]["lines_removed"] == 3  # 6 boilerplate lines, 3 kept (first by id)
        assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
        counters = {k: stats["counters"][k] for k in reference.counters}
        assert counters == reference.counters  # candidates = verified + rejected, the same pairs as the reference
        assert counters["near_candidate_pairs"] == counters["near_verified_pairs"] + counters["near_rejected_pairs"]
    assert kept_by_layout[1] == kept_by_layout[7]
    rows = {r["id"]: r for r in kept_by_layout[1]}
    dropped = {m for g in groups.values() for m in g} - set(groups)
    assert set(rows) == set(texts) - dropped
    for keeper, members in groups.items():
        assert rows[keeper]["dup_cluster"] == keeper and rows[keeper]["dup_cluster_size"] == len(members)
    assert rows["u0"]["dup_cluster"] == "u0" and rows["u0"]["dup_cluster_size"] == 1
    assert rows["p1"]["dup_cluster"] == "p1" and rows["p2"]["dup_cluster"] == "p2"
    near_kept = {rows[k]["dup_cluster"] for k in reference.keeper_of.values()}
    assert near_kept == set(reference.keeper_of.values()) == {"cb"}  # the job and the plain-Python rule agree
    boiler = [i for i in rows if i.startswith("u") and "Subscribe" in rows[i]["text"]]
    assert boiler == ["u0", "u1", "u2"]
    assert rows["u3"]["n_chars"] == len(rows["u3"]["text"])
    assert sorted(p.name for p in (tmp_path / "out7").iterdir())[0] == "_SUCCESS"


def test_connected_components_of_a_long_chain_in_few_rounds(spark):
    from jobs.dedup_clusters import connected_components

    rng = random.Random(4)
    chain = [f"{rng.getrandbits(40):010x}" for _ in range(200)]
    edges = list(zip(chain, chain[1:], strict=False))  # a path of 200: min-label propagation needs ~100 rounds
    others = [f"{rng.getrandbits(40):010x}" for _ in range(60)]
    edges += [(rng.choice(others[:30]), rng.choice(others[:30])) for _ in range(40)]
    edges += [(others[30 + i], others[31 + i]) for i in range(0, 28, 2)]  # pairs
    label = reference_components([], edges)
    truth = {node: label[node] for a, b in edges for node in (a, b) if a != b}
    labels, rounds = connected_components(spark.createDataFrame(edges, "src string, dst string"), 20)
    assert {r["node"]: r["label"] for r in labels.collect()} == truth
    assert rounds <= 12


def test_near_duplicate_keepers_follow_the_keeper_rule(spark):
    """Spark glue for the keepers: shared buckets summed over verified groups, best keeper_rank."""
    from collections import Counter

    from jobs.dedup_clusters import near_duplicate_keepers
    from pipeline.dedup.oracle import reference_keeper

    groups = [(1, "b", "a"), (1, "c", "a"), (2, "c", "d"), (3, "y", "x"), (4, "z", "y")]
    sizes = Counter((key, rep) for key, _, rep in groups)  # a group of n members: n shared buckets to each and rep
    shared: Counter[str] = Counter()
    for (_, rep), n in sizes.items():
        shared[rep] += n
    for key, doc_id, rep in groups:
        shared[doc_id] += sizes[(key, rep)]
    label = reference_components([], [(i, r) for _, i, r in groups])
    truth = {}
    for cluster in set(label.values()):
        truth[cluster] = reference_keeper({d: s for d, s in shared.items() if label[d] == cluster})
    labels = spark.createDataFrame(sorted(label.items()), "node string, label string")
    keepers = near_duplicate_keepers(spark.createDataFrame(groups, "key long, id string, rep string"), labels)
    assert {r["label"]: r["keeper"] for r in keepers.collect()} == truth == {"a": "c", "x": "y"}  # c shares most
