"""Rule-based filters, ours vs datatrove's, on the same extracted texts in one process, one core.

Both sides run Gopher repetition, Gopher quality, C4 and FineWeb with their default (published) thresholds, as a
chain (a dropped document stops) and each filter on its own over every document. Language id and the URL block
list are off: datatrove's reference pipeline (NOTES-env) has neither.

datatrove lives in its own venv, with our repository on PYTHONPATH (our filters need only numpy):
    python3 -m venv /work/venvs/datatrove && /work/venvs/datatrove/bin/pip install "datatrove[processing]==0.10.1"
    PYTHONPATH=. /work/venvs/datatrove/bin/python benchmarks/filters_bench.py
Input: the extraction-dev pages (../shared/data/extraction-dev/html), extracted once with trafilatura (not timed).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import gzip
import json
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = ROOT.parent / "shared" / "data" / "extraction-dev" / "html"
FAMILIES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")


def load_texts(pages_dir: Path, limit: int) -> list[str]:
    import trafilatura

    texts = []
    for path in sorted(glob.glob(str(pages_dir / "*.html.gz")))[:limit]:
        with gzip.open(path) as f:
            text = trafilatura.extract(f.read())
        if text:
            texts.append(text)
    if not texts:
        raise SystemExit(f"no pages with text under {pages_dir}")
    return texts


def ours(texts: list[str]):
    from pipeline.document import Document
    from pipeline.filters import FilterChain, FiltersConfig

    config = FiltersConfig()
    config.lang.enabled = False
    chain = FilterChain(config)
    by_family = {f.name: f for f in chain.filters}

    def docs():
        return [Document(id=str(i), url="", domain="", warc_path="", warc_offset=0, fetch_time="", lang="",
                         lang_score=0.0, text=t, n_chars=len(t)) for i, t in enumerate(texts)]

    return (lambda: [chain.apply(d) for d in docs()]), {
        family: (lambda f=by_family[family]: [f(d) is None for d in docs()]) for family in FAMILIES
    }


def reference(texts: list[str]):
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    # C4QualityFilter rewrites the text it keeps, so every run starts from fresh documents.
    filters = dict(zip(FAMILIES, (GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(),
                                  FineWebQualityFilter()), strict=True))

    def docs():
        return [Document(text=t, id=str(i)) for i, t in enumerate(texts)]

    def keep(f, doc) -> bool:
        verdict = f.filter(doc)
        return verdict if isinstance(verdict, bool) else verdict[0]

    def chain():
        return [next((name for name, f in filters.items() if not keep(f, d)), None) for d in docs()]

    return chain, {family: (lambda f=f: [keep(f, d) for d in docs()]) for family, f in filters.items()}


def timed(fn, repeats: int):
    fn()  # warm-up: tokenizer models, regex caches
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.process_time()  # CPU time: the machine is shared, wall time would count other people's work
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--limit", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "filters.json")
    args = parser.parse_args()

    texts = load_texts(args.pages, args.limit)
    our_chain, our_families = ours(texts)
    ref_chain, ref_families = reference(texts)
    n = len(texts)
    rows = {}
    for name, our_fn, ref_fn in [("chain", our_chain, ref_chain),
                                 *((f, our_families[f], ref_families[f]) for f in FAMILIES)]:
        our_s, our_out = timed(our_fn, args.repeats)
        ref_s, ref_out = timed(ref_fn, args.repeats)
        pairs = zip(our_out, ref_out, strict=True)
        agree = sum((a is None) == (b is None) if name == "chain" else a == b for a, b in pairs)
        rows[name] = {"ours_docs_per_s": n / our_s, "reference_docs_per_s": n / ref_s, "ratio": ref_s / our_s,
                      "decision_agreement": agree / n,
                      "ours_kept": sum(o is None if name == "chain" else o for o in our_out),
                      "reference_kept": sum(o is None if name == "chain" else o for o in ref_out)}

    print(f"{n} documents, mean {sum(map(len, texts)) / n:.0f} characters, CPU seconds of 1 process, "
          f"best of {args.repeats}")
    print(f"{'step':20s}{'ours docs/s':>14s}{'datatrove docs/s':>18s}{'ratio':>8s}{'agree':>8s}{'kept o/d':>10s}")
    for name, r in rows.items():
        print(f"{name:20s}{r['ours_docs_per_s']:14.0f}{r['reference_docs_per_s']:18.1f}{r['ratio']:8.1f}"
              f"{r['decision_agreement']:8.2f}{r['ours_kept']:>5d}/{r['reference_kept']:<4d}")

    result = {
        "name": "filters",
        "machine": " ".join(filter(None, [platform.machine(), platform.processor(), f"{os.cpu_count()} cpus"])),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "ours": rows["chain"]["ours_docs_per_s"],
        "reference": rows["chain"]["reference_docs_per_s"],
        "ratio": rows["chain"]["ratio"],
        "unit": "docs/s, one core, Gopher repetition + Gopher quality + C4 + FineWeb chain",
        "params": {"load_average_1min_at_end": os.getloadavg()[0],
                   "documents": n, "pages": str(args.pages), "repeats": args.repeats, "thresholds": "defaults",
                   "python": platform.python_version(), "datatrove": version("datatrove"),
                   "numpy": version("numpy")},
        "steps": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
