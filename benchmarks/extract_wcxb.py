"""benchmarks/extract_bench.py --wcxb: every extractor on the WCXB dev pages (word F1 per page type, with/without
snippet rates) and on extraction-dev (snippet rates), with pages per CPU-second, in one run.

    nice -n 10 .venv/bin/python benchmarks/extract_bench.py --wcxb [--per-type 20] [--variants]

Rows: trafilatura with its own defaults, trafilatura favor_precision, ours default (TextExtractor(ExtractConfig())),
ours fast (extractor = "fast", the shipped model), ours fast v3 (the previous model, WCXB only). The shipped fast
model was trained on these WCXB pages and on extraction-dev, so its rows here are in-sample; its out-of-sample numbers
are the cross-validation on its card (reported beside it, "fast CV", extraction-dev's too).
`--variants` adds trafilatura settings (tables off, comments on, no fallbacks, favor_recall) to choose the default
by. Speed: CPU seconds of extract_html per page (decoding included), the fast extractor's compile excluded (its
kernels compile at construction, timed separately). → benchmarks/results/extract_wcxb.json
"""

from __future__ import annotations

import gzip
import json
import time

from benchmarks.extract_bench import DEV, ROOT

WCXB = ROOT.parent / "shared" / "data" / "wcxb-dev"
TIMEOUT_S = 30.0  # quality runs: a busy shared machine must not turn pages into timeouts


def extractors(variants: bool) -> dict:
    from pipeline.extract.main_text import ExtractConfig, TextExtractor

    def traf(**kw):
        return TextExtractor(ExtractConfig(timeout_s=TIMEOUT_S, extractor="trafilatura", **kw))

    out = {"trafilatura defaults": traf(favor_precision=False),
           "trafilatura favor_precision": traf(favor_precision=True),
           "ours default": TextExtractor(ExtractConfig(timeout_s=TIMEOUT_S))}
    t = time.process_time()
    out["ours fast"] = TextExtractor(ExtractConfig(timeout_s=TIMEOUT_S, extractor="fast"))
    out["_compile_s"] = time.process_time() - t
    out["ours fast v3"] = TextExtractor(ExtractConfig(timeout_s=TIMEOUT_S, extractor="fast",
                                                      fast_model="extractor_v3"))
    if variants:
        out["traf no tables"] = traf(favor_precision=False, include_tables=False)
        out["traf comments"] = traf(favor_precision=False, include_comments=True)
        out["traf no fallback"] = traf(favor_precision=False, fast=True)
        out["traf favor_recall"] = traf(favor_precision=False, favor_recall=True)
    return out


def run_all(named: dict, pages: list[tuple[str, str | bytes]]) -> dict:
    """{name: (texts, cpu seconds)}: each extractor over all pages in turn."""
    out = {}
    for name, extractor in named.items():
        texts, cpu = [], 0.0
        for url, html in pages:
            t = time.process_time()
            text, _reason = extractor.extract_html(html, None, url)
            cpu += time.process_time() - t
            texts.append(text or "")
        out[name] = (texts, cpu)
    return out


def dev_rates(texts: list[str], entries: list[dict]) -> dict:
    from classifiers.extractor import squash

    found = absent = n_with = n_without = 0
    for text, entry in zip(texts, entries, strict=True):
        text = squash(text)
        found += sum(bool(text) and squash(s) in text for s in entry["with"])
        absent += sum(not (text and squash(s) in text) for s in entry["without"])
        n_with, n_without = n_with + len(entry["with"]), n_without + len(entry["without"])
    return {"with": found / n_with, "without": absent / n_without}


def wcxb_mode(args) -> None:
    from benchmarks.extract_modes import _write
    from classifiers.wcxb import PAGE_TYPES, load_pages, sample, score

    pages = load_pages(WCXB)
    if args.per_type:
        pages = sample(pages, args.per_type)
    named = extractors(args.variants)
    compile_s = named.pop("_compile_s")
    wcxb_runs = run_all(named, [(p.url, gzip.decompress(p.html_path.read_bytes())) for p in pages])
    annotations = sorted(json.loads((DEV / "evaldata-dev.json").read_text()).items())
    dev_runs = run_all(named, [(k.split("::")[-1], gzip.decompress((DEV / "html" / e["file"]).read_bytes()))
                               for k, e in annotations])
    rows = {}
    for name in named:
        texts, cpu = wcxb_runs[name]
        dev_texts, dev_cpu = dev_runs[name]
        rows[name] = {"wcxb": score(texts, pages), "wcxb_pages_per_cpu_s": len(pages) / cpu,
                      "extraction_dev": dev_rates(dev_texts, [e for _, e in annotations]),
                      "extraction_dev_pages_per_cpu_s": len(annotations) / dev_cpu}
    types = [t for t in PAGE_TYPES if t in rows[next(iter(rows))]["wcxb"]]
    print(f"WCXB dev, {len(pages)} pages, word F1 (with found / without leaked overall)")
    print(f"{'extractor':28}{'all':>7}" + "".join(f"{t[:7]:>8}" for t in types)
          + f"{'with':>7}{'w/o':>7}{'p/cpu-s':>9} | xdev with  w/o  p/cpu-s")
    for name, row in rows.items():
        w = row["wcxb"]
        print(f"{name:28}{w['all']['f1']:>7.3f}" + "".join(f"{w[t]['f1']:>8.3f}" for t in types)
              + f"{w['all']['with']:>7.3f}{w['all']['without']:>7.3f}{row['wcxb_pages_per_cpu_s']:>9.1f} | "
              + f"{row['extraction_dev']['with']:.3f} {row['extraction_dev']['without']:.3f} "
              + f"{row['extraction_dev_pages_per_cpu_s']:7.1f}")
    print(f"fast extractor construction (kernels compiled): {compile_s:.2f} CPU-s")
    card_cv = load_fast_cv()
    if card_cv:
        print(f"{'ours fast, CV by domain (card)':28}{card_cv['all']['f1']:>7.3f}"
              + "".join(f"{card_cv[t]['f1']:>8.3f}" for t in types)
              + f"{card_cv['all']['with']:>7.3f}{card_cv['all']['without']:>7.3f}"
              + "   (all dev pages with blocks; each fold's model never saw its domains)")
        dev_cv = load_fast_cv("extraction_dev_cross_validation")
        if dev_cv:
            print(f"ours fast, extraction-dev CV by domain (card): with {dev_cv['with']:.3f} "
                  f"without {dev_cv['without']:.3f}")
    reference = rows["trafilatura defaults"]
    ours = rows["ours default"]
    _write(args, "extract_wcxb", {
        "unit": "WCXB dev word F1 (mean over pages); speed in pages per CPU-second",
        "ours": round(ours["wcxb"]["all"]["f1"], 4), "reference": round(reference["wcxb"]["all"]["f1"], 4),
        "ratio": round(ours["wcxb"]["all"]["f1"] / reference["wcxb"]["all"]["f1"], 4),
        "params": {"wcxb_pages": len(pages), "per_type": args.per_type, "extraction_dev_pages": len(annotations),
                   "timeout_s": TIMEOUT_S, "fast_compile_cpu_s": round(compile_s, 2)},
        "fast_cv_by_domain_from_card": card_cv,
        "fast_extraction_dev_cv_by_domain_from_card": load_fast_cv("extraction_dev_cross_validation"),
        "rows": rows})


def load_fast_cv(key: str = "cross_validation") -> dict | None:
    """The shipped fast model's by-domain cross-validation (its card), when it was trained on WCXB."""
    from pipeline.extract.fast import DEFAULT_MODEL

    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    return card.get("metrics", {}).get(key) if "wcxb" in card.get("data", "") else None
