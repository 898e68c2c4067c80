"""WARC → shards docs/s per core, `sluice run` stage by stage; datatrove doing the same extraction, filters, dedup.

    .venv/bin/python benchmarks/e2e_bench.py [--pages 3000] [--cores 2] [--datatrove-python PATH]
    .venv/bin/python benchmarks/e2e_bench.py --real-copies 80 [--extractor fast]   # 20,000 real pages

With --real-copies N the input is instead the 250 real pages of ../shared/data/extraction-dev xN packed in WARC.gz
files (distinct URLs and record ids; the sample crawl is still made, for the classify stage's demo models), and
--extractor picks [extract] extractor for our side (trafilatura, today's default, or fast).

Input: `sluice sample-crawl --pages N --seed 1` in a temp dir (not committed; a realistic ~1 GB ≈ 80k pages takes
hours of CPU on a shared 2-core machine, hence the flag), and classifier models from `sluice classifiers train-demo`
on it; neither is timed. Both sides read the crawl's well-formed files (the last one is broken on purpose and
stops datatrove's WarcReader). Ours: `jobs.run.main` (what `sluice run` runs) with configs/demo.toml on
local[CORES], in a subprocess whose driver marks when each stage job starts and ends (wall clock and CPU of the
driver, JVM and Python workers together, read from /proc). Reference: datatrove in its own venv with
tasks=CORES, workers=CORES: WarcReader → Trafilatura(favour_precision, deduplicate=False, timeout = our
extract.timeout_s) → LanguageFilter(0.65, the same lid.176.ftz we load) → GopherRepetition → GopherQuality →
C4Quality → FineWebQuality → JsonlWriter, then its four MinHash stages (signatures, buckets, cluster with cluster ids
and sizes, filter → JsonlWriter) with our bands × rows, 5-gram shingles. Comparable work = our extract + dedup stages
vs all of that; the headline ratio is docs/s per core on wall clock (docs = response records in the crawl). The two
filter chains keep different numbers of documents, so datatrove's MinHash also runs on the documents our extract
stage kept (same-input dedup ratio; a few thousand documents here, where Spark's fixed cost weighs — the same
comparison at 100k+ documents is benchmarks/dedup_scale_bench.py --datatrove-python). Writes
benchmarks/results/e2e.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# CPU seconds of this process and every live descendant (exited, reaped ones are in their parent's cutime/cstime):
# Spark's JVM and Python workers, datatrove's pool and extraction sandboxes.
TREE_CPU = r"""
import os
def tree_cpu():
    tick, kids, stats = os.sysconf("SC_CLK_TCK"), {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = open(f"/proc/{name}/stat").read()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2:].split()
            stats[int(name)] = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            kids.setdefault(int(fields[1]), []).append(int(name))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0)
        todo += kids.get(pid, [])
    return total / tick
"""

# datatrove's pipelines, one stage after another, each marked at its start and end (wall clock, CPU of the tree);
# count: the documents a JsonlWriter wrote into a folder.
DATATROVE_STAGES = TREE_CPU + r"""
import glob, gzip, time
from datatrove.executor import LocalPipelineExecutor
def run_stages(stages, cores, work):
    marks = []
    for name, pipeline, tasks in stages:
        executor = LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, cores),
                                         logging_dir=f"{work}/logs/{name.replace(' ', '_')}")
        marks.append([name + ":start", time.perf_counter(), tree_cpu()])
        executor.run()
        marks.append([name + ":end", time.perf_counter(), tree_cpu()])
    return marks
def count(folder):
    return sum(sum(1 for _ in gzip.open(f, "rt")) for f in glob.glob(f"{folder}/*.jsonl.gz"))
"""

OURS_DRIVER = TREE_CPU + r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import jobs.base, jobs.run, jobs.run_tokenizer
marks = []
def mark(name):
    marks.append([name, time.perf_counter(), tree_cpu()])
def wrap(owner, attr, label):
    inner = getattr(owner, attr)
    def timed(*args, **kwargs):
        name = label(args)
        mark(name + ":start")
        try:
            return inner(*args, **kwargs)
        finally:
            mark(name + ":end")
    setattr(owner, attr, timed)
wrap(jobs.run, "spark_session", lambda a: "spark_session")
wrap(jobs.stage.Stage, "execute", lambda a: a[0].name)
wrap(jobs.run_tokenizer, "train", lambda a: "train_tokenizer")
rc = jobs.run.main(sys.argv[2:])
print("RESULT " + json.dumps({"rc": rc, "marks": marks}), flush=True)
sys.exit(rc)
"""

DATATROVE_DRIVER = DATATROVE_STAGES + r"""
import json, os, sys
from datatrove.pipeline.dedup import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                      MinhashDedupSignature)
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                       GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import JsonlReader, WarcReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.lid import FT176LID
p = json.loads(sys.argv[1])
work, cores = p["work"], p["cores"]
class LocalFT176(FT176LID):
    # The fastText lid.176.ftz our side loads, instead of downloading lid.176.bin (no network here).
    def __init__(self, path):
        super().__init__()
        self.path = path
    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText
            self._model = _FastText(self.path)
        return self._model
language_filter = LanguageFilter(language_threshold=0.65)
language_filter.model = LocalFT176(p["lid_model"])
mh = MinhashConfig(n_grams=p["ngram"], num_buckets=p["bands"], hashes_per_bucket=p["rows"], seed=p["seed"])
def minhash(prefix, docs, out):
    sigs, buckets, remove = (f"{out}/{d}" for d in ("sigs", "buckets", "remove"))
    return [
        (prefix + "minhash signatures", [JsonlReader(docs), MinhashDedupSignature(sigs, config=mh)], cores),
        (prefix + "minhash buckets", [MinhashDedupBuckets(sigs, buckets, config=mh)], p["bands"]),
        (prefix + "minhash cluster", [MinhashDedupCluster(buckets, remove, config=mh, save_cluster_id=True,
                                                          save_cluster_size=True)], 1),
        (prefix + "minhash filter", [JsonlReader(docs), MinhashDedupFilter(remove, load_cluster_ids=True,
                                                                           load_cluster_sizes=True),
                                     JsonlWriter(f"{out}/deduped")], cores),
    ]
docs = f"{work}/docs"
stages = [
    ("extract+filters", [WarcReader(p["crawl"], glob_pattern="*.warc.gz"),
                         Trafilatura(favour_precision=True, deduplicate=False, timeout=p["timeout"]),
                         language_filter, GopherRepetitionFilter(), GopherQualityFilter(),
                         C4QualityFilter(), FineWebQualityFilter(), JsonlWriter(docs)], cores),
    *minhash("", docs, f"{work}/own"),
    # The same dedup on the documents our extract stage kept (converted to JSONL, untimed): equal input.
    *minhash("same-input ", p["ours_docs"], f"{work}/same-input"),
]
marks = run_stages(stages, cores, work)
import importlib.metadata as md
print("RESULT " + json.dumps({"marks": marks, "kept_after_filters": count(docs),
      "kept_after_dedup": count(f"{work}/own/deduped"), "same_input_kept": count(f"{work}/same-input/deduped"),
      "versions": {k: md.version(k) for k in ("datatrove", "trafilatura")}}), flush=True)
"""


def spark_env() -> dict:
    python = str(ROOT / ".venv" / "bin" / "python")
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python,
            "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def run_driver(argv: list[str], env: dict, log: Path) -> tuple[dict, float]:
    """A driver subprocess; its RESULT line and the command's own wall time (interpreter and JVM start included).

    Output goes to a file, not a pipe: helper processes that outlive the driver (multiprocess's forkserver)
    would hold a pipe open."""
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=3600, check=False)
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{argv[0]} failed (rc={proc.returncode}), see {log}:\n{text[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):]), wall


def spans(marks: list) -> dict[str, dict[str, float]]:
    """name:start / name:end marks → {name: {wall_s, cpu_s}}."""
    opened, out = {}, {}
    for name, t, cpu in marks:
        stage, edge = name.rsplit(":", 1)
        if edge == "start":
            opened[stage] = (t, cpu)
        else:
            t0, cpu0 = opened.pop(stage)
            out[stage] = {"wall_s": round(t - t0, 2), "cpu_s": round(cpu - cpu0, 2)}
    return out


def add(*parts: dict) -> dict[str, float]:
    return {k: round(sum(p[k] for p in parts), 2) for k in ("wall_s", "cpu_s")}


def rates(pages: int, cores: int, span: dict) -> dict[str, float]:
    return {"docs_per_s_per_core": round(pages / span["wall_s"] / cores, 2),
            "docs_per_cpu_s": round(pages / span["cpu_s"], 2), **span}


def prepare(work: Path, args, python: str) -> dict:
    """Sample crawl and demo models (untimed); the well-formed WARC files linked into work/input."""
    crawl, inputs = work / "crawl", work / "input"
    for old in (crawl, work / "models", work / "run", work / "datatrove", inputs, work / "ours-docs"):
        shutil.rmtree(old, ignore_errors=True)  # a complete run/ would be skipped, not measured
    for argv in (["sample-crawl", "--output", str(crawl), "--pages", str(args.pages), "--seed", str(args.seed)],
                 ["classifiers", "train-demo", "--crawl", str(crawl), "--output", str(work / "models")]):
        subprocess.run([python, "-m", "jobs.cli", *argv], check=True, env=spark_env(), capture_output=True)
    # The crawl's last file is malformed on purpose and datatrove's WarcReader stops its whole task on it, so both
    # sides read the well-formed files only.
    files = [f for f in json.loads((crawl / "crawl.json").read_text())["files"] if f["well_formed"]]
    inputs.mkdir(parents=True)
    for f in files:
        (inputs / f["name"]).symlink_to(crawl / f["name"])
    return {"warcs": sorted(str(p) for p in inputs.glob("*.warc.gz")), "pages": sum(f["pages"] for f in files),
            "bytes": sum(f["bytes"] for f in files)}


def real_pages_input(work: Path, copies: int, files: int) -> dict:
    """work/input = the extraction-dev pages xcopies in `files` WARC.gz files (replacing the crawl's links)."""
    from benchmarks.extract_bench import build_warcs

    inputs = work / "input"
    shutil.rmtree(inputs, ignore_errors=True)
    inputs.mkdir(parents=True)
    warcs = build_warcs(inputs, copies, files)
    return {"warcs": sorted(str(p) for p in warcs), "pages": 250 * copies,
            "bytes": sum(p.stat().st_size for p in warcs)}


def config_with_extractor(config: str, extractor: str, work: Path) -> str:
    """A copy of the run config with [extract] extractor set."""
    import tomllib

    text = Path(config).read_text()
    if "extractor" in tomllib.loads(text).get("extract", {}):
        raise SystemExit(f"{config} sets extract.extractor itself; drop --extractor or edit the config")
    line = f'extractor = "{extractor}"\n'
    text = text.replace("[extract]\n", "[extract]\n" + line, 1) if "[extract]\n" in text else \
        text + "\n[extract]\n" + line
    out = work / f"config-{extractor}.toml"
    out.write_text(text)
    return str(out)


def documents_to_jsonl(documents: Path, dest: Path, files: int) -> int:
    """Our extract stage's output as datatrove JSONL (id, text, url), split over `files` files, one per task."""
    import gzip

    import pyarrow.parquet as pq

    rows = pq.read_table(documents, columns=["id", "text", "url"]).sort_by("id").to_pylist()
    dest.mkdir(parents=True)
    for i in range(files):
        with gzip.open(dest / f"{i:05d}.jsonl.gz", "wt", encoding="utf-8") as f:
            for row in rows[i::files]:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=3000, help="response records in the sample crawl")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N] and datatrove tasks=workers=N")
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.toml"))
    parser.add_argument("--datatrove-python", default="/work/venvs/datatrove/bin/python")
    parser.add_argument("--workdir", default=None, help="keep crawl and outputs here (default: a temp dir)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "e2e.json"))
    parser.add_argument("--real-copies", type=int, default=0, help="input: extraction-dev pages xN, not the crawl")
    parser.add_argument("--extractor", choices=("trafilatura", "fast"), default=None, help="our [extract] extractor")
    args = parser.parse_args()

    from benchmarks.extract_bench import machine
    from jobs.run_config import RunConfig
    from pipeline.filters.langid import default_model_path

    config = RunConfig.load(args.config)
    bands, rows = config.dedup.lsh_params()
    python, cores = str(ROOT / ".venv" / "bin" / "python"), args.cores
    with tempfile.TemporaryDirectory(prefix="e2e-bench-") as tmp:
        work = Path(args.workdir or tmp)
        crawl = prepare(work, args, python)
        if args.real_copies:
            crawl = real_pages_input(work, args.real_copies, 4 * cores)
        if args.extractor:
            args.config = config_with_extractor(args.config, args.extractor, work)
        run, ref = work / "run", work / "datatrove"
        load = {"before": os.getloadavg()[0]}
        ours, ours_wall = run_driver(
            [python, "-c", OURS_DRIVER, str(ROOT), "--input", *crawl["warcs"], "--output", str(run),
             "--models", str(work / "models"), "--config", args.config, "--master", f"local[{cores}]"],
            spark_env(), work / "ours.log")
        load["between"] = os.getloadavg()[0]
        n_documents = documents_to_jsonl(run / "documents", work / "ours-docs", cores)
        params = {"work": str(ref), "cores": cores, "crawl": str(work / "input"), "ours_docs": str(work / "ours-docs"),
                  "lid_model": config.filters.lang.model_path or default_model_path(), "ngram": config.dedup.ngram,
                  "bands": bands, "rows": rows, "seed": config.dedup.seed, "timeout": config.extract.timeout_s}
        ref.mkdir(parents=True)
        reference, _ = run_driver([args.datatrove_python, "-c", DATATROVE_DRIVER, json.dumps(params)],
                                  {**os.environ, "PYTHONUNBUFFERED": "1"}, work / "datatrove.log")
        load["after"] = os.getloadavg()[0]
        counts = {d: json.loads((run / d / "_stats.json").read_text())
                  for d in ("documents", "deduped", "classified", "shards")}

    pages = crawl["pages"]
    stage = spans(ours["marks"])
    ours_stages = {name: stage[name] for name in ("spark_session", "extract", "dedup", "classify", "tokenize")}
    # tokenize's share includes training its tokenizer on the classified corpus, which the driver does first.
    ours_stages["tokenize"] = add(stage["tokenize"], stage["train_tokenizer"])
    # The command's wall includes interpreter start, imports and JVM shutdown; its CPU is the process tree's at the
    # last mark (cumulative since the driver started).
    ours_total = {"wall_s": round(ours_wall, 2), "cpu_s": round(ours["marks"][-1][2], 2)}
    ours_stages["driver_other"] = {k: round(ours_total[k] - sum(s[k] for s in ours_stages.values()), 2)
                                   for k in ("wall_s", "cpu_s")}
    ref_all = spans(reference["marks"])
    ref_stages = {k: v for k, v in ref_all.items() if not k.startswith("same-input")}
    ref_same = add(*(v for k, v in ref_all.items() if k.startswith("same-input")))
    ours_cmp, ref_cmp = add(stage["extract"], stage["dedup"]), add(*ref_stages.values())
    rate = {"ours": rates(pages, cores, ours_cmp), "reference": rates(pages, cores, ref_cmp),
            "ours_with_spark_start": rates(pages, cores, add(ours_cmp, stage["spark_session"])),
            "ours_full_run": rates(pages, cores, ours_total),
            "ours_extract": rates(pages, cores, stage["extract"]),
            "reference_extract": rates(pages, cores, ref_stages["extract+filters"]),
            "ours_dedup_same_input": rates(n_documents, cores, stage["dedup"]),
            "reference_dedup_same_input": rates(n_documents, cores, ref_same)}

    def ratio(a: str, b: str, unit: str = "docs_per_s_per_core") -> float:
        return round(rate[a][unit] / rate[b][unit], 2)

    print(f"crawl: {pages} pages in {len(crawl['warcs'])} well-formed WARC files, {crawl['bytes'] / 1e6:.1f} MB; "
          f"{cores} cores; load average {load['before']:.1f} → {load['between']:.1f} → {load['after']:.1f}")
    print(f"{'':42}{'wall s':>9}{'cpu s':>9}{'share':>7}")
    sides = (("sluice", ours_stages, ours_total["wall_s"]), ("datatrove", ref_all, ref_cmp["wall_s"]))
    for side, stages, total in sides:
        for name, s in stages.items():
            share = "" if name.startswith("same-input") else f"{100 * s['wall_s'] / total:.0f}%"
            print(f"{side + ' ' + name:42}{s['wall_s']:>9.1f}{s['cpu_s']:>9.1f}{share:>7}")
    print(f"\n{'':42}{'docs':>9}{'wall s':>9}{'docs/s/core':>13}{'docs/cpu-s':>12}")
    for name, r in rate.items():
        docs = n_documents if name.endswith("same_input") else pages
        print(f"{name:42}{docs:>9}{r['wall_s']:>9.1f}{r['docs_per_s_per_core']:>13.2f}{r['docs_per_cpu_s']:>12.2f}")
    print(f"ratio extract+filters+dedup, docs/s per core: {ratio('ours', 'reference'):.2f}x "
          f"(per CPU-second {ratio('ours', 'reference', 'docs_per_cpu_s'):.2f}x, with Spark's start "
          f"{ratio('ours_with_spark_start', 'reference'):.2f}x); extract+filters alone "
          f"{ratio('ours_extract', 'reference_extract'):.2f}x; dedup on the same input "
          f"{ratio('ours_dedup_same_input', 'reference_dedup_same_input'):.2f}x")

    result = {
        "name": "e2e",
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "unit": "WARC response records per second per core, wall clock (extraction + filters + dedup)",
        "ours": rate["ours"]["docs_per_s_per_core"],
        "reference": rate["reference"]["docs_per_s_per_core"],
        "ratio": ratio("ours", "reference"),
        "ratio_cpu": ratio("ours", "reference", "docs_per_cpu_s"),
        "ratio_with_spark_start": ratio("ours_with_spark_start", "reference"),
        "ratio_extract_filters": ratio("ours_extract", "reference_extract"),
        "ratio_dedup_same_input": ratio("ours_dedup_same_input", "reference_dedup_same_input"),
        "params": {"pages": pages, "crawl_pages": args.pages, "seed": args.seed, "warc_files": len(crawl["warcs"]),
                   "crawl_mb": round(crawl["bytes"] / 1e6, 1), "cores": cores, "config": Path(args.config).name,
                   "ours_master": f"local[{cores}]",
                   "reference": f"datatrove {reference['versions']['datatrove']} (trafilatura "
                                f"{reference['versions']['trafilatura']}), LocalPipelineExecutor tasks=workers={cores}"
                                f" (buckets: tasks={bands}, cluster: tasks=1)",
                   "minhash": {"ngram": config.dedup.ngram, "bands": bands, "rows": rows,
                               "ours_num_perm": config.dedup.num_perm},
                   "load_average_1min": {k: round(v, 1) for k, v in load.items()},
                   "note": "2-core machine shared with other engineers' jobs while measuring; one run per side"},
        "stages": {"ours": {name: {**s, "share_pct": round(100 * s["wall_s"] / ours_total["wall_s"], 1)}
                            for name, s in ours_stages.items()},
                   "reference": {name: {**s, "share_pct": round(100 * s["wall_s"] / ref_cmp["wall_s"], 1)}
                                 for name, s in ref_stages.items()},
                   "reference_same_input_dedup": {k: v for k, v in ref_all.items() if k.startswith("same-input")}},
        "rates": rate,
        # verification rounds, candidate / verified / rejected pairs, connected-components rounds
        "dedup_counters": counts["deduped"].get("counters", {}),
        "counts": {"ours": {d: {"in": c["records_in"], "out": c["records_out"]} for d, c in counts.items()},
                   "reference": {k: reference[k] for k in ("kept_after_filters", "kept_after_dedup",
                                                           "same_input_kept")}},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
