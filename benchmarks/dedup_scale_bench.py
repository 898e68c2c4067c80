"""The dedup job at scale on planted duplicates: finishes, finds the planted clusters, within a small memory.

    .venv/bin/python benchmarks/dedup_scale_bench.py [--docs 1000000] [--files 16] [--datatrove-python PATH]

Input: benchmarks/planted_duplicates.py's corpus (generated prose; one cluster of 10,000 copies, chains of
200 documents whose ends share nothing, 4,000 small clusters), written once as Parquet under --workdir and
reused (untimed). Ours: `spark-submit --master local[2] --driver-memory 2g jobs/dedup.py` with the default
[dedup] settings (or --config), Spark's event log on: each phase of the job (signatures, verification rounds,
connected-components rounds, the final join and write) is the sum of its tasks' run time, read from the log
by the job descriptions jobs/dedup.py sets. Memory: peak RSS of the JVM (VmHWM) and of the Python workers (the
largest worker, and the largest sum over live workers), sampled from /proc every half second. CPU: all
processes of the run, each at its last /proc sample (getrusage misses workers nobody reaps). Reference (with
--datatrove-python): datatrove's four MinHash stages (signatures, buckets, cluster, filter) with our ngram,
bands x rows and seed, tasks=workers=2, on the same documents as JSONL (converted untimed), in its own venv;
compared per CPU-second.
Writes benchmarks/results/dedup_scale.json (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.planted_duplicates import PlantedCorpus  # noqa: E402

DATATROVE_MINHASH = r"""
import json, sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter,
                                      MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
p = json.loads(sys.argv[1])
mh = MinhashConfig(n_grams=p["ngram"], num_buckets=p["bands"], hashes_per_bucket=p["rows"], seed=p["seed"])
out, cores = p["work"], p["cores"]
stages = [
    ("signatures", [JsonlReader(p["docs"]), MinhashDedupSignature(f"{out}/sigs", config=mh)], cores),
    ("buckets", [MinhashDedupBuckets(f"{out}/sigs", f"{out}/buckets", config=mh)], p["bands"]),
    ("cluster", [MinhashDedupCluster(f"{out}/buckets", f"{out}/remove", config=mh, save_cluster_id=True,
                                     save_cluster_size=True)], 1),
    ("filter", [JsonlReader(p["docs"]), MinhashDedupFilter(f"{out}/remove", load_cluster_ids=True,
                                                           load_cluster_sizes=True), JsonlWriter(f"{out}/deduped")],
     cores),
]
import time
marks = {}  # wall per stage; CPU is measured from outside (its worker pool's processes are not reaped here)
for name, pipeline, tasks in stages:
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, cores),
                          logging_dir=f"{out}/logs/{name}").run()
    marks[name] = {"wall_s": round(time.perf_counter() - t0, 2)}
import importlib.metadata as md
print("RESULT " + json.dumps({"stages": marks, "version": md.version("datatrove")}), flush=True)
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class TreeSampler(threading.Thread):
    """Peak RSS of a run's JVM and Python workers and the CPU time of all its processes, from /proc every half
    second (workers the JVM never reaps would be missing from getrusage; each process counts its last sample)."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root_pid, self.stop = root_pid, threading.Event()
        self.jvm_peak_mb = self.worker_peak_mb = self.workers_sum_peak_mb = 0.0
        self.max_workers = 0
        self.cpu_ticks: dict[int, int] = {}

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    def sample(self) -> None:
        jvm, workers = 0.0, []
        for cmd, hwm, rss in self._tree():
            if "java" in cmd.split(" ", 1)[0]:
                jvm = max(jvm, hwm)
            elif "pyspark.daemon" in cmd or "pyspark.worker" in cmd:
                workers.append((hwm, rss))
        self.jvm_peak_mb = max(self.jvm_peak_mb, jvm)
        if workers:
            self.worker_peak_mb = max(self.worker_peak_mb, max(h for h, _ in workers))
            self.workers_sum_peak_mb = max(self.workers_sum_peak_mb, sum(r for _, r in workers))
            self.max_workers = max(self.max_workers, len(workers))

    def _tree(self):
        kids: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                pid = int(stat.parent.name)
                kids.setdefault(int(fields[1]), []).append(pid)
                if pid in self.cpu_ticks or pid == self.root_pid:
                    self.cpu_ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
            except (OSError, IndexError, ValueError):
                continue
        todo = [self.root_pid]
        while todo:
            pid = todo.pop()
            todo += kids.get(pid, [])
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu_ticks[pid] = int(fields[11]) + int(fields[12])
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                status = {line.split(":")[0]: line.split()[1:2] for line in
                          Path(f"/proc/{pid}/status").read_text().splitlines()}
                yield cmd, int(status["VmHWM"][0]) / 1024, int(status["VmRSS"][0]) / 1024
            except (OSError, KeyError, IndexError, ValueError):
                continue


def phases_from_event_log(log_dir: Path) -> dict[str, dict[str, float]]:
    """Per phase (job description, rounds folded together): the sum of its tasks' run time, its wall time (each
    round's first job start to last job end, summed) and its job count, from Spark's JSON event log."""
    logs = sorted(p for p in log_dir.rglob("*") if p.is_file() and not p.name.startswith((".", "appstatus")))
    stage_phase: dict[int, str] = {}
    job_desc: dict[int, str] = {}
    spans: dict[str, list[float]] = {}  # full description -> [first start, last end]
    out: dict[str, dict[str, float]] = {}
    for line in logs[-1].read_text().splitlines():
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            desc = (event.get("Properties") or {}).get("spark.job.description") or "other"
            phase = desc.removeprefix("dedup: ").split(", round")[0]
            job_desc[event["Job ID"]] = desc
            for sid in event.get("Stage IDs", []):
                stage_phase[sid] = phase
            out.setdefault(phase, {"task_s": 0.0, "wall_s": 0.0, "jobs": 0})["jobs"] += 1
            span = spans.setdefault(desc, [event["Submission Time"], event["Submission Time"]])
            span[0] = min(span[0], event["Submission Time"])
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in job_desc:
            span = spans[job_desc[event["Job ID"]]]
            span[1] = max(span[1], event["Completion Time"])
        elif kind == "SparkListenerTaskEnd":
            phase = stage_phase.get(event["Stage ID"], "other")
            run_ms = (event.get("Task Metrics") or {}).get("Executor Run Time", 0)
            out.setdefault(phase, {"task_s": 0.0, "wall_s": 0.0, "jobs": 0})["task_s"] += run_ms / 1000
    for desc, (first, last) in spans.items():
        out[desc.removeprefix("dedup: ").split(", round")[0]]["wall_s"] += (last - first) / 1000
    return {k: {"task_s": round(v["task_s"], 1), "wall_s": round(v["wall_s"], 1), "jobs": v["jobs"]}
            for k, v in out.items()}


def run_ours(args, inputs: Path, work: Path) -> dict:
    output, events = work / "ours-out", work / "events"
    subprocess.run(["rm", "-rf", str(output), str(events)], check=True)
    events.mkdir(parents=True)
    python = str(ROOT / ".venv" / "bin" / "python")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python,
           "PYTHONPATH": str(ROOT)}
    argv = [str(ROOT / ".venv" / "bin" / "spark-submit"), "--master", args.master, "--driver-memory",
            args.driver_memory, "--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={events}",
            "--conf", "spark.eventLog.compress=false", "--conf", "spark.eventLog.rolling.enabled=false",
            str(ROOT / "jobs" / "dedup.py"), "--input", str(inputs), "--output", str(output)]
    if args.config:
        argv += ["--config", args.config]
    cpu0, t0 = children_cpu(), time.perf_counter()
    with open(work / "ours.log", "w") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop.set()
    wall, cpu = time.perf_counter() - t0, max(sampler.cpu_s, children_cpu() - cpu0)
    if rc != 0:
        raise SystemExit(f"dedup job failed (rc={rc}), see {work / 'ours.log'}")
    import pyarrow.parquet as pq

    table = pq.read_table(output, columns=["id", "dup_cluster_size"])
    kept = dict(zip(table.column("id").to_pylist(), table.column("dup_cluster_size").to_pylist(), strict=True))
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "kept": kept,
            "stats": json.loads((output / "_stats.json").read_text()),
            "memory": {"jvm_peak_rss_mb": round(sampler.jvm_peak_mb), "python_worker_peak_rss_mb":
                       round(sampler.worker_peak_mb), "python_workers_sum_peak_rss_mb":
                       round(sampler.workers_sum_peak_mb), "python_workers_max": sampler.max_workers},
            "phases": phases_from_event_log(events)}


def run_datatrove(args, inputs: Path, work: Path, cfg) -> dict:
    import gzip

    import pyarrow.parquet as pq

    docs = work / "jsonl"
    if not (docs / "done").exists():
        subprocess.run(["rm", "-rf", str(docs)], check=True)
        docs.mkdir(parents=True)
        files = sorted(inputs.glob("*.parquet"))
        for i, f in enumerate(files):
            with gzip.open(docs / f"{i:05d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as out:
                for batch in pq.ParquetFile(f).iter_batches(columns=["id", "text"], batch_size=20_000):
                    for row in batch.to_pylist():
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        (docs / "done").touch()
    ref = work / "datatrove"
    subprocess.run(["rm", "-rf", str(ref)], check=True)
    bands, rows = cfg.lsh_params()
    params = {"work": str(ref), "docs": str(docs), "cores": 2, "ngram": cfg.ngram, "bands": bands, "rows": rows,
              "seed": cfg.seed}
    cpu0, t0 = children_cpu(), time.perf_counter()
    with open(work / "datatrove.log", "w") as log:
        proc = subprocess.Popen([args.datatrove_python, "-c", DATATROVE_MINHASH, json.dumps(params)], stdout=log,
                                stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop.set()
    wall, cpu = time.perf_counter() - t0, max(sampler.cpu_s, children_cpu() - cpu0)
    text = (work / "datatrove.log").read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if rc != 0 or not lines:
        raise SystemExit(f"datatrove failed (rc={rc}), see {work / 'datatrove.log'}")
    result = json.loads(lines[-1][len("RESULT "):])
    kept = sum(sum(1 for _ in gzip.open(f, "rt")) for f in (ref / "deduped").glob("*.jsonl.gz"))
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "kept": kept, "stages": result["stages"],
            "version": result["version"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--driver-memory", default="2g")
    p.add_argument("--config", default=None, help="run TOML with a [dedup] table (default: the defaults)")
    p.add_argument("--datatrove-python", default=None, help="also run datatrove's MinHash stages on the same docs")
    p.add_argument("--workdir", default="/tmp/dedup-scale")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dedup_scale.json"))
    p.add_argument("--prepare-only", action="store_true", help="write the input corpus and stop")
    args = p.parse_args()

    from pipeline.config import load_toml
    from pipeline.dedup.primitives import DedupConfig

    cfg = load_toml(DedupConfig, args.config, section="dedup") if args.config else DedupConfig()
    small = args.docs < 200_000  # the planted structure scaled down below the big run
    build = dict(big=min(10_000, args.docs // 100), chains=20, chain_length=200 if not small else 50,
                 small_clusters=min(4_000, args.docs // 250))
    corpus = PlantedCorpus.build(args.docs, args.seed, **build)
    work = Path(args.workdir)
    inputs = work / f"docs-{args.docs}-{args.seed}"
    t0 = time.perf_counter()
    if not (inputs / "_done").exists():
        subprocess.run(["rm", "-rf", str(inputs)], check=True)
        corpus.write_parquet(inputs, n_files=args.files)
        (inputs / "_done").touch()
    print(f"input ready ({time.perf_counter() - t0:.0f} s): {inputs}", flush=True)
    if args.prepare_only:
        return
    load_before = os.getloadavg()[0]
    ours = run_ours(args, inputs, work)
    score = corpus.score(ours.pop("kept"))
    print(json.dumps({k: v for k, v in ours.items() if k != "stats"}, indent=1), flush=True)
    reference = run_datatrove(args, inputs, work, cfg) if args.datatrove_python else None
    stats = ours.pop("stats")
    result = {
        "name": "dedup_scale",
        "machine": describe_machine(f"Spark {args.master}, --driver-memory {args.driver_memory}"),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "unit": "documents per CPU-second (whole process tree)",
        "ours": round(args.docs / ours["cpu_s"], 1),
        "reference": round(args.docs / reference["cpu_s"], 1) if reference else None,
        "ratio": round(reference["cpu_s"] / ours["cpu_s"], 2) if reference else None,
        "run": ours,
        "reference_run": reference,
        "planted": score,
        "stats": {"records_in": stats["records_in"], "records_out": stats["records_out"],
                  "dropped": stats["dropped"], "counters": stats.get("counters", {})},
        "params": {"docs": args.docs, "files": args.files, "seed": args.seed, "planted": build,
                   "config": args.config or "defaults", "num_perm": cfg.num_perm, "lsh": cfg.lsh_params(),
                   "threshold": cfg.threshold, "verify": cfg.verify,
                   "load_average_1min_before": round(load_before, 1),
                   "note": "2-core machine shared with other engineers' jobs while measuring"},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "run"}, indent=1))
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
