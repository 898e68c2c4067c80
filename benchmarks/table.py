"""Print the README's benchmark table from benchmarks/results/*.json (the committed measurements)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (what is compared, the command that reproduces it)
ROWS = {
    "extract": ("extraction + rule-based filters vs datatrove", "python benchmarks/extract_bench.py"),
    "filters": ("Gopher/C4/FineWeb filter chain vs datatrove's", "python benchmarks/filters_bench.py"),
    "minhash": ("MinHash signatures vs datasketch update_batch", "python benchmarks/minhash_bench.py"),
    "dedup_quality": ("near-dup recall / precision vs datasketch MinHashLSH", "python benchmarks/dedup_quality.py"),
    "classify": ("clutter scoring with context features vs bare fastText", "python benchmarks/classify_bench.py"),
    "tokenize": ("tokenize job incl. Parquet I/O vs raw encode_batch", "python benchmarks/tokenize_bench.py"),
    "train": ("grouped-GEMM experts vs per-expert loop (CPU)", "python benchmarks/train_bench.py"),
    "train_ep": ("expert parallel 2 vs FSDP only, 2 gloo ranks (CPU)", "python benchmarks/train_bench.py --only ep"),
    "checkpoint": ("Mimose vs full recompute under one budget (CPU)", "python benchmarks/checkpoint_bench.py"),
    "e2e": ("WARC → deduplicated documents vs datatrove", "python benchmarks/e2e_bench.py"),
    "e2e_real_fast": ("WARC → deduplicated documents vs datatrove, 20,000 real pages, fast extractor",
                      "python benchmarks/e2e_bench.py --real-copies 80 --extractor fast "
                      "--output benchmarks/results/e2e_real_fast.json"),
    "dedup_scale_100k": ("dedup job vs datatrove's four MinHash stages, same 100k planted documents",
                         "python benchmarks/dedup_scale_bench.py --docs 100000 --files 8 --datatrove-python PY "
                         "--output benchmarks/results/dedup_scale_100k.json"),
    "dedup_scale": ("dedup job on 1,000,000 planted documents, local[2], 2 GB driver (memory, rounds in JSON)",
                    "python benchmarks/dedup_scale_bench.py"),
    "semdedup": ("semantic dedup stage (fastText) vs MiniLM embedding alone; quality in JSON",
                 "python benchmarks/semdedup_bench.py"),
    "semdedup_throughput": ("semantic dedup default encoder (MiniLM + sketch) vs fastText, 1 kB / 5 kB documents",
                            "python benchmarks/semdedup_throughput_bench.py"),
    "extract_fast": ("fast extractor vs trafilatura (quality: 3 x 5-fold CV by page)",
                     "python benchmarks/extract_bench.py --mode extractors"),
    "extract_stage": ("extract stage, fast vs trafilatura extractor, real pages",
                      "python benchmarks/extract_bench.py --mode stage --copies 80"),
    "extract_reading": ("our WARC reader vs fastwarc", "python benchmarks/extract_bench.py --mode reading"),
    "warc_fuzz": ("files losing an undamaged record: this reader vs the previous one (lower is better)",
                  "python benchmarks/warc_fuzz_bench.py"),
    "warc_fuzz_plain": ("uncompressed .warc files losing an undamaged record: this reader vs the previous one (lower "
                        "is better; records mixed up: 0 vs 0.002)", "python benchmarks/warc_fuzz_bench.py --plain "
                        "--files 300"),
    "shard_verify": ("shard read with page-CRC verification vs without", "python benchmarks/shard_verify_bench.py"),
    "pii": ("PII masking MB/s (recall in JSON) vs datatrove PIIFormatter", "python benchmarks/pii_bench.py"),
    "decontam": ("13-gram decontamination docs/s vs datatrove NGramsDecontFilter",
                 "python benchmarks/decontam_bench.py"),
    "corpus_filter": ("FineWeb-style Parquet corpus, filter + dedup stages vs datatrove filters + MinHash",
                      "python benchmarks/corpus_filter_bench.py --datatrove-python PY"),
}


def _fmt(value, nested: bool = False) -> str:
    if isinstance(value, dict):  # one level of settings (e.g. default / dots_llm1), each with its own numbers
        parts = [f"{k} ({_fmt(v, True)})" if isinstance(v, dict) else f"{k}: {_fmt(v)}"
                 for k, v in value.items() if not isinstance(v, list) and not (nested and isinstance(v, dict))]
        return ", ".join(parts)
    if isinstance(value, float):
        return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> None:
    print("| benchmark | ours | reference | ratio | unit | reproduce |")
    print("|---|---|---|---|---|---|")
    for name, (what, command) in ROWS.items():
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        print(f"| {name}: {what} | {_fmt(r['ours'])} | {_fmt(r['reference'])} | {_fmt(r['ratio'])} | "
              f"{r['unit']} | `{command}` |")


if __name__ == "__main__":
    main()
