"""A FineWeb-style document corpus through the rule filters and MinHash dedup: `sluice run --until dedup` (filter
and dedup stages on Spark) against datatrove's equivalent pipeline, docs per CPU-second.

    .venv/bin/python benchmarks/corpus_filter_bench.py --datatrove-python /tmp/dt/bin/python [--rows 2000] [--cores 2]

Input (untimed, not committed): demo/fineweb_corpus.py writes ROWS rows of real text (the WCXB dev ground-truth
main contents, ../shared/data/wcxb-dev, plus exact copies, near copies and boilerplate) as 4 Parquet files with
FineWeb's columns (text, id, url, date, language, language_score, token_count).
Ours: `jobs.run.main --input corpus/*.parquet --until dedup --master local[CORES]` in a subprocess (e2e_bench's
driver: CPU of the driver, JVM and Python workers read from /proc around each stage job). The corpus has a language
column, so no language id runs; default filters (Gopher repetition and quality, C4, FineWeb) and default MinHash.
Reference: datatrove in its own venv, tasks = workers = CORES: ParquetReader → GopherRepetitionFilter →
GopherQualityFilter → C4QualityFilter → FineWebQualityFilter → JsonlWriter, then its four MinHash stages with our
bands x rows and 5-gram shingles. The headline: docs/CPU-s over both stages, Spark's session start excluded (it is
reported); writes benchmarks/results/corpus_filter.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.e2e_bench import DATATROVE_STAGES, OURS_DRIVER, add, run_driver, spans, spark_env  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402

DATATROVE_DRIVER = DATATROVE_STAGES + r"""
import json, sys
from datatrove.pipeline.dedup import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                      MinhashDedupSignature)
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                       GopherRepetitionFilter)
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.writers import JsonlWriter
p = json.loads(sys.argv[1])
work, cores = p["work"], p["cores"]
mh = MinhashConfig(n_grams=p["ngram"], num_buckets=p["bands"], hashes_per_bucket=p["rows"], seed=p["seed"])
docs, out = f"{work}/docs", f"{work}/minhash"
sigs, buckets, remove = (f"{out}/{d}" for d in ("sigs", "buckets", "remove"))
stages = [
    ("filters", [ParquetReader(p["corpus"], glob_pattern="*.parquet"), GopherRepetitionFilter(),
                 GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(), JsonlWriter(docs)], cores),
    ("minhash signatures", [JsonlReader(docs), MinhashDedupSignature(sigs, config=mh)], cores),
    ("minhash buckets", [MinhashDedupBuckets(sigs, buckets, config=mh)], p["bands"]),
    ("minhash cluster", [MinhashDedupCluster(buckets, remove, config=mh)], 1),
    ("minhash filter", [JsonlReader(docs), MinhashDedupFilter(remove), JsonlWriter(f"{out}/deduped")], cores),
]
marks = run_stages(stages, cores, work)
import importlib.metadata as md
print("RESULT " + json.dumps({"marks": marks, "kept_after_filters": count(docs),
      "kept_after_dedup": count(f"{out}/deduped"), "versions": {"datatrove": md.version("datatrove")}}), flush=True)
"""


def main() -> None:
    from demo.fineweb_corpus import write_fineweb_corpus
    from jobs.run_config import RunConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datatrove-python", required=True, help="python of a venv with datatrove[processing]")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    config = RunConfig()
    bands, rows = config.dedup.lsh_params()
    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as tmp:
        work = Path(tmp)
        write_fineweb_corpus(ROOT.parent / "shared" / "data" / "wcxb-dev", work / "corpus", n_rows=args.rows)
        argv = [sys.executable, "-c", OURS_DRIVER, str(ROOT), "--input", f"{work}/corpus/*.parquet", "--output",
                str(work / "run"), "--until", "dedup", "--master", f"local[{args.cores}]"]
        ours, ours_wall = run_driver(argv, spark_env(), work / "ours.log")
        ours_spans = spans(ours["marks"])
        stats = {d: json.loads((work / "run" / d / "_stats.json").read_text()) for d in ("documents", "deduped")}
        payload = {"work": str(work / "dt"), "corpus": str(work / "corpus"), "cores": args.cores,
                   "ngram": config.dedup.ngram, "bands": bands, "rows": rows, "seed": config.dedup.seed}
        ref, ref_wall = run_driver([args.datatrove_python, "-c", DATATROVE_DRIVER, json.dumps(payload)],
                                   {"PATH": "/usr/bin:/bin"}, work / "datatrove.log")
        ref_spans = spans(ref["marks"])
    ours_total = add(ours_spans["filter"], ours_spans["dedup"])
    ref_total = add(*ref_spans.values())
    ours_rate = round(args.rows / ours_total["cpu_s"], 2)
    ref_rate = round(args.rows / ref_total["cpu_s"], 2)
    result = {
        "name": "corpus_filter",
        "machine": describe_machine(f"local[{args.cores}]"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "unit": "docs_per_cpu_s",
        "ours": ours_rate,
        "reference": ref_rate,
        "ratio": round(ours_rate / ref_rate, 2),
        "params": {"rows": args.rows, "cores": args.cores, "bands": bands, "rows_per_band": rows,
                   "ngram": config.dedup.ngram, "versions": ref["versions"]},
        "ours_detail": {"stages": ours_spans, "filter_and_dedup": ours_total, "process_wall_s": round(ours_wall, 1),
                        "kept_after_filter": stats["documents"]["records_out"],
                        "kept_after_dedup": stats["deduped"]["records_out"]},
        "reference_detail": {"stages": ref_spans, "total": ref_total, "process_wall_s": round(ref_wall, 1),
                             "kept_after_filters": ref["kept_after_filters"],
                             "kept_after_dedup": ref["kept_after_dedup"]},
    }
    out = ROOT / "benchmarks" / "results" / "corpus_filter.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'':24}{'docs/CPU-s':>12}{'CPU s':>10}{'kept (filter, dedup)':>24}")
    print(f"{'ours (filter + dedup)':24}{ours_rate:>12}{ours_total['cpu_s']:>10}"
          f"{stats['documents']['records_out']:>12}{stats['deduped']['records_out']:>12}")
    print(f"{'datatrove':24}{ref_rate:>12}{ref_total['cpu_s']:>10}"
          f"{ref['kept_after_filters']:>12}{ref['kept_after_dedup']:>12}")
    print(f"ratio {result['ratio']}x; Spark session start {ours_spans.get('spark_session')} (excluded) → {out}")


if __name__ == "__main__":
    main()
