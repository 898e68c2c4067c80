"""Tokenize throughput per core, ours against raw `Tokenizer.encode_batch`, and `sluice inspect` on a large shard set.

    python benchmarks/tokenize_bench.py [--text-mb 24] [--inspect-gb 1.0] [--skip-spark]

Same texts, same tokenizer, same process, one core each (TOKENIZERS_PARALLELISM=false, Spark local[1]):
  reference      `Tokenizer.encode_batch` on the texts already in a Python list, 2048 per call
  ours (task)    what one tokenize task does: Parquet batches in → tokenize_batch (EOS, weights, shuffle keys,
                 list<uint32> building) → ShardWriter → zstd Parquet out
  ours (job)     the whole Spark job (jobs/tokenize_shards.py at local[1], session already up): tokenize, cache, size,
                 shuffle by shard, sort, write shards and manifest
Texts are the visible text of the shared extraction-dev pages (lxml), repeated to --text-mb; without
../shared/data, generated sentences. The inspect part writes --inspect-gb of shards with random token ids and
times `inspect_shards` against reading every shard whole with pyarrow (what decoding token lists costs).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline.shards.format import build_manifest, manifest_json  # noqa: E402
from pipeline.shards.writer import ShardWriter  # noqa: E402
from pipeline.tokenize.tokenizer import TokenizeConfig, eos_id, tokenize_batch, train_tokenizer  # noqa: E402

BATCH = 2048
EOS = "<|endoftext|>"


def page_texts() -> list[str]:
    data = ROOT.parent / "shared" / "data" / "extraction-dev"
    if not data.exists():
        rng = random.Random(0)
        words = "the a river city market data model people time year work school water light".split()
        return [" ".join(rng.choices(words, k=rng.randint(50, 3000))) for _ in range(500)]
    import lxml.html

    texts = []
    for entry in json.loads((data / "evaldata-dev.json").read_text()).values():
        try:
            doc = lxml.html.fromstring(gzip.decompress((data / "html" / entry["file"]).read_bytes()))
        except (ValueError, lxml.etree.ParserError):
            continue
        for junk in doc.xpath("//script|//style"):
            junk.drop_tree()
        text = "\n".join(line.strip() for line in doc.text_content().splitlines() if line.strip())
        if text:
            texts.append(text)
    return texts


def write_corpus(texts: list[str], directory: Path, files: int = 4) -> None:
    directory.mkdir(parents=True)
    n = len(texts)
    table = pa.table({"id": [f"{i:010d}" for i in range(n)], "text": texts,
                      "lang": ["en"] * n, "domain": ["example.org"] * n, "category": ["web"] * n,
                      "quality": pa.array(np.full(n, 0.5), pa.float32()),
                      "weight": pa.array(np.ones(n), pa.float32())})
    for i in range(files):
        lo, hi = i * n // files, (i + 1) * n // files
        pq.write_table(table.slice(lo, hi - lo), directory / f"part-{i:05d}.parquet")


def tree_cpu_seconds(root: int) -> float:
    """CPU time of `root` and every process below it (the JVM, Spark's Python workers), exited children included."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))  # ppid, u+s+cu+cs
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


class Clock:
    """CPU seconds of this process tree and wall seconds: CPU time is what `per core` means on a busy machine."""

    def __enter__(self):
        self.cpu, self.wall = tree_cpu_seconds(os.getpid()), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu, self.wall = tree_cpu_seconds(os.getpid()) - self.cpu, time.perf_counter() - self.wall


def bench_raw(tokenizer, texts: list[str]) -> tuple[Clock, int]:
    tokens = 0
    with Clock() as clock:
        for i in range(0, len(texts), BATCH):
            tokens += sum(len(e) for e in tokenizer.encode_batch(texts[i:i + BATCH]))
    return clock, tokens


def bench_task(tokenizer, corpus: Path, out: Path) -> tuple[Clock, int]:
    import fsspec

    cfg, eos = TokenizeConfig(), eos_id(tokenizer, EOS)
    fs = fsspec.filesystem("file")
    out.mkdir(exist_ok=True)
    tokens = 0
    with Clock() as clock:
        writer = ShardWriter(fs, str(out), 0, cfg.row_group_mb << 20)
        for file in sorted(corpus.glob("*.parquet")):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=BATCH):
                rows, stats = tokenize_batch(batch, tokenizer, eos, cfg)
                writer.write(rows)
                tokens += stats.counters["tokens"]
        writer.close()
    return clock, tokens


def bench_job(tokenizer_path: Path, corpus: Path, out: Path) -> list[tuple[Clock, int]]:
    from jobs.base import spark_session
    from jobs.run_config import RunConfig
    from jobs.stage import StageArgs
    from jobs.tokenize_shards import TokenizeStage

    stage = TokenizeStage()
    spark = spark_session("tokenize-bench", "local[1]")
    settings = stage.settings(RunConfig())
    runs = []
    for i in range(2):  # the first run pays the JVM's warm-up (JIT, codegen), a one-off on a real corpus
        args = StageArgs(input=[str(corpus)], output=f"{out}-{i}", tokenizer=str(tokenizer_path))
        with Clock() as clock:
            stats = stage.run(spark, settings, args, args.output)
        runs.append((clock, stats.counters["tokens"]))
    spark.stop()
    return runs


def bench_inspect(directory: Path, gigabytes: float) -> dict:
    """Shards of random ids with lengths drawn like web documents; then inspect vs a full read."""
    import fsspec

    from pipeline.inspect.report import inspect_shards

    rng = np.random.default_rng(0)
    fs, infos, written, index = fsspec.filesystem("file"), [], 0, 0
    directory.mkdir()
    while written < gigabytes * 2**30:
        writer = ShardWriter(fs, str(directory), index, 8 << 20)
        for _ in range(4):
            lengths = np.minimum(rng.lognormal(6.5, 1.0, 16384).astype(np.int64) + 1, 100_000)
            offsets = np.r_[0, np.cumsum(lengths)].astype(np.int32)
            n = len(lengths)
            writer.write(pa.RecordBatch.from_pydict({
                "id": [f"{index}-{i}" for i in range(n)],
                "tokens": pa.ListArray.from_arrays(offsets, rng.integers(0, 32000, offsets[-1], dtype=np.uint32)),
                "n_tokens": lengths.astype(np.int32), "category": rng.choice(["news", "science", "web"], n),
                "quality": rng.random(n, dtype=np.float32), "weight": np.ones(n, np.float32),
                "lang": rng.choice(["en", "de", "fr"], n), "domain": [f"d{k}.org" for k in rng.integers(0, 5000, n)]}))
        infos.append(writer.close())
        written += infos[-1].bytes
        index += 1
    (directory / "manifest.json").write_text(manifest_json(build_manifest(infos, {}, {}, "bench")))
    start = time.perf_counter()
    report = inspect_shards(str(directory))
    ours = time.perf_counter() - start
    start = time.perf_counter()
    full_tokens = sum(pq.read_table(directory / i.file).column("tokens").combine_chunks().values.__len__()
                      for i in infos)
    reference = time.perf_counter() - start
    assert full_tokens == report["tokens"]
    return {"bytes": written, "shards": len(infos), "documents": report["documents"], "tokens": report["tokens"],
            "inspect_s": round(ours, 2), "full_read_s": round(reference, 2), "speedup": round(reference / ours, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-mb", type=float, default=24)
    parser.add_argument("--inspect-gb", type=float, default=1.0)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import tokenizers

    work = Path(tempfile.mkdtemp(prefix="tokenize-bench-"))
    try:
        pages = page_texts()
        texts, size = [], 0
        while size < args.text_mb * 2**20:
            for t in pages:
                texts.append(t)
                size += len(t.encode())
        tokenizer = train_tokenizer(iter(pages), 32000, EOS)
        tokenizer.save(str(work / "tokenizer.json"))
        write_corpus(texts, work / "classified")
        bench_raw(tokenizer, texts[:200])  # warm-up
        runs = {"raw_encode_batch": [], "task": []}
        for i in range(args.repeat):  # interleaved, best of each: other work on the machine hits both alike
            runs["raw_encode_batch"].append(bench_raw(tokenizer, texts))
            runs["task"].append(bench_task(tokenizer, work / "classified", work / f"task{i}"))
        raw_tokens, task_tokens = runs["raw_encode_batch"][0][1], runs["task"][0][1]
        assert task_tokens == raw_tokens + len(texts), (task_tokens, raw_tokens)  # + one EOS each
        if not args.skip_spark:
            cold, warm = bench_job(work / "tokenizer.json", work / "classified", work / "shards")
            runs["spark_job_local1_cold"], runs["spark_job_local1"] = [cold], [warm]
        results = {name: {"tokens_per_cpu_s": max(n / c.cpu for c, n in r), "wall_s": min(c.wall for c, _ in r),
                          "cpu_s": min(c.cpu for c, _ in r)} for name, r in runs.items()}
        inspect = bench_inspect(work / "inspect", args.inspect_gb) if args.inspect_gb > 0 else {}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    raw_rate = results["raw_encode_batch"]["tokens_per_cpu_s"]
    print(f"{'':<22}{'tokens/cpu-s':>14}{'vs raw':>8}{'cpu s':>8}{'wall s':>8}")
    for name, r in results.items():
        print(f"{name:<22}{r['tokens_per_cpu_s']:>14,.0f}{r['tokens_per_cpu_s'] / raw_rate:>8.2f}"
              f"{r['cpu_s']:>8.1f}{r['wall_s']:>8.1f}")
    if inspect:
        print(f"inspect {inspect['bytes'] / 2**30:.2f} GiB, {inspect['shards']} shards, "
              f"{inspect['documents']:,} docs: {inspect['inspect_s']} s "
              f"(reading every shard whole: {inspect['full_read_s']} s)")
    ours = results.get("spark_job_local1", results["task"])["tokens_per_cpu_s"]
    task_rate = results["task"]["tokens_per_cpu_s"]
    record = {
        "name": "tokenize", "machine": f"{platform.machine()} {os.cpu_count()} cores, shared with other work",
        "date": time.strftime("%Y-%m-%d"), "unit": "tokens per CPU second (one core)",
        "ours": round(ours), "reference": round(raw_rate), "ratio": round(ours / raw_rate, 3),
        "ours_task": round(task_rate), "ratio_task": round(task_rate / raw_rate, 3),
        "runs": {k: {m: round(v, 2) for m, v in r.items()} for k, r in results.items()},
        "inspect": inspect,
        "params": {"text_mb": args.text_mb, "documents": len(texts), "tokens": raw_tokens, "vocab_size": 32000,
                   "batch": BATCH, "tokenizers": tokenizers.__version__, "pyarrow": pa.__version__,
                   "python": platform.python_version(),
                   "ours": "spark_job_local1" if "spark_job_local1" in results else "task"},
    }
    out = ROOT / "benchmarks" / "results" / "tokenize.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
