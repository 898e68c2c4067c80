"""Semantic dedup's per-document cost: the default encoder (all-MiniLM-L6-v2 through sentence-transformers, plus the
content-word sketch of the second check) against the fast option (fastText SIF embedding_v1), at 1 kB and 5 kB.

Documents: WCXB dev ground-truth texts (real pages), cut to exactly 1,000 or 5,000 characters (pages shorter than
that are skipped). One thread (torch.set_num_threads(1)), CPU time of this process: on a shared machine CPU seconds
are what one core spends, whatever the other load; wall time is reported beside it. Warm-up batches excluded.
Per billion documents: 1e9 / (docs/s per core) / 3600 core-hours for the embedding and sketch (k-means and pair
finding come on top; see semdedup.json's stage run).
Run: python benchmarks/semdedup_throughput_bench.py [--docs 256]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.web_paraphrase_set import GROUND_TRUTH  # noqa: E402
from pipeline.semdedup.pair_check import sketch  # noqa: E402


def documents(size: int, n: int) -> list[str]:
    out = []
    with gzip.open(GROUND_TRUTH, "rt", encoding="utf-8") as f:
        for line in f:
            text = " ".join(json.loads(line)["main_content"].split())
            if len(text) >= size:
                out.append(text[:size])
            if len(out) == n:
                break
    return out


def measure(embed, texts: list[str], batch: int = 256, warmup: int = 16) -> dict:
    embed(texts[:warmup])
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(texts), batch):
        part = texts[start : start + batch]
        embed(part)
        for t in part:
            sketch(t)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"docs": len(texts), "cpu_seconds": round(cpu, 2), "wall_seconds": round(wall, 2),
            "docs_per_s_per_core": round(len(texts) / cpu, 1),
            "core_hours_per_billion_docs": round(1e9 / (len(texts) / cpu) / 3600)}


def main() -> None:
    import torch

    from classifiers.embedding import FastTextEmbedding, load_embedding, train_embedding

    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    encoder = load_embedding("all-MiniLM-L6-v2")
    sizes = {"1kB": documents(1000, args.docs), "5kB": documents(5000, args.docs)}
    fasttext_path = Path(tempfile.mkdtemp(prefix="throughput-")) / "embedding_v1.bin"
    train_embedding(sizes["5kB"], fasttext_path)
    fasttext = FastTextEmbedding.load(fasttext_path)
    ours = {size: measure(encoder.embed, texts) for size, texts in sizes.items()}
    reference = {size: measure(fasttext.embed, texts) for size, texts in sizes.items()}
    result = {"name": "semdedup_throughput", "machine": describe_machine("one thread"), "date": str(date.today()),
              "unit": "docs/s per core (CPU seconds of one thread, embedding + content-word sketch)",
              "ours": {k: v["docs_per_s_per_core"] for k, v in ours.items()},
              "reference": {k: v["docs_per_s_per_core"] for k, v in reference.items()},
              "ratio": {k: round(ours[k]["docs_per_s_per_core"] / reference[k]["docs_per_s_per_core"], 4)
                        for k in ours},
              "ours_is": "all-MiniLM-L6-v2 (sentence-transformers, CPU torch, first 256 tokens) + sketch",
              "reference_is": "fastText SIF embedding_v1 (the fast option) + sketch",
              "detail": {"ours": ours, "reference": reference},
              "params": {"docs": args.docs, "threads": 1, "batch": 256, "torch": torch.__version__,
                         "gpu": "none on this machine; not measured"}}
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "results" / "semdedup_throughput.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
