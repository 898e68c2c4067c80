"""Model stage throughput: documents/s per core for clutter → quality → domain → weights, and fastText
predictions/s on lines (our clutter features vs a bare fastText predict on the same lines).

    .venv/bin/python benchmarks/classify_bench.py [--crawl DIR] [--docs 2000] [--repeat 3]

Models and documents come from a sample crawl (`sluice sample-crawl`), trained with `train-demo`; the
reference is fastText's own `predict` over the raw line texts (no context features) with the same model
family: it bounds what the feature building costs us. One process, one thread: per-core numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("OMP_NUM_THREADS", "1")


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--crawl", default=None, help="sample crawl dir (default: generate 300 pages)")
    p.add_argument("--docs", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    import fasttext
    import pyarrow as pa

    from classifiers.balance import CategoryBalancer
    from classifiers.clutter import content_lines
    from classifiers.config import ClassifyConfig
    from classifiers.stage import ModelStage, add_weights
    from demo.labels import crawl_documents
    from pipeline.stats import Stats

    work = Path(tempfile.mkdtemp(prefix="classify-bench-"))
    crawl = args.crawl or str(work / "crawl")
    if args.crawl is None:
        subprocess.run([sys.executable, "-m", "jobs.cli", "sample-crawl", "--output", crawl, "--pages", "300",
                        "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "jobs.cli", "classifiers", "train-demo", "--crawl", crawl,
                    "--output", str(work / "models")], check=True, stdout=subprocess.DEVNULL)
    texts = [d["text"] for d in crawl_documents(crawl)]
    texts = (texts * (args.docs // len(texts) + 1))[: args.docs]
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    config = ClassifyConfig()
    stage = ModelStage(work / "models", config)
    balancer = CategoryBalancer(config.balance)

    def full_stage():
        add_weights(stage.score_batch(table, Stats()), balancer)

    lines = [line for t in texts for line in content_lines(t)]
    raw_model = fasttext.load_model(str(work / "models" / "clutter_v1.bin"))
    raw_lines = [" ".join(line.lower().split()) for line in lines]

    stage_s = _best(full_stage, args.repeat)
    ours_lines_s = _best(lambda: stage.clutter.score_lines(lines), args.repeat)
    ref_lines_s = _best(lambda: raw_model.predict(raw_lines, k=-1), args.repeat)
    chars = sum(len(t) for t in texts)
    result = {
        "name": "classify",
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
                   "(shared with other work while measured)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "unit": "lines/s per core (clutter scoring incl. features vs bare fastText predict)",
        "ours": round(len(lines) / ours_lines_s),
        "reference": round(len(lines) / ref_lines_s),
        "ratio": round(ref_lines_s / ours_lines_s, 3),
        "full_stage_docs_per_s_per_core": round(len(texts) / stage_s, 1),
        "full_stage_mb_per_s_per_core": round(chars / stage_s / 1e6, 3),
        "params": {"docs": len(texts), "lines": len(lines), "avg_chars": round(chars / len(texts)),
                   "repeat": args.repeat, "models": "train-demo on sample-crawl 300 pages seed 1",
                   "fasttext": "fasttext-numpy2", "python": platform.python_version()},
    }
    print(f"{'measure':<44}{'value':>14}")
    print(f"{'full model stage, docs/s per core':<44}{result['full_stage_docs_per_s_per_core']:>14}")
    print(f"{'clutter lines/s (features + predict)':<44}{result['ours']:>14}")
    print(f"{'bare fastText predict lines/s (reference)':<44}{result['reference']:>14}")
    print(f"{'ours / reference':<44}{result['ratio']:>14}")
    out = Path(__file__).resolve().parent / "results" / "classify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
