"""Decontamination: planted evaluation items found, same-topic documents kept, docs/s per core with 1M eval n-grams.

    .venv/bin/python benchmarks/decontam_bench.py [--ngrams 1000000] [--datatrove-python PATH]

Evaluation sets: "docs-qa", real paragraphs of the sample crawl's English text (demo.text: Python reference and
library documentation) as question + choices + answer items, and "bulk", random-word items that bring the index to
`--ngrams` distinct 13-grams. Corpus: the ../shared/data/extraction-dev pages' main text (the PII benchmark's
cache, built with trafilatura), plus documents that paste a docs-qa item into such a page — verbatim, with small
edits (two words replaced), with other whitespace and case, with other punctuation — plus same-topic documents:
paragraphs from the same documentation pages as the items, not in the evaluation set. Ours: DecontaminateConfig
defaults (13-grams, min_overlap 1, drop) through `judge_batch` in batches of 1024, with the exact index and
with `index = "bloom"` (its default error, 1e-7, and 1e-4). Reference: datatrove's
NGramsDecontFilter (13-grams, its text normalisation and spaCy word tokenizer) in its own venv, over an index its
own hashing built from the same items. Speed: CPU seconds of one process over every corpus document (ours: the
fastest of 3 rounds after a warm-up batch; datatrove's filter: one round, at about a tenth of our speed).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.peer import run_json_driver  # noqa: E402
from benchmarks.pii_labelled import DEV, dev_pages  # noqa: E402
from pipeline.decontaminate.ngrams import DecontaminateConfig, NgramIndex, build_index, judge_batch  # noqa: E402

DATATROVE_DRIVER = r"""
import json, sys, tempfile, time
from importlib import metadata
import numpy as np
from datatrove.data import Document
from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.text import ngrams, simplify_text
from datatrove.utils.word_tokenizers import load_word_tokenizer
data = json.load(open(sys.argv[1]))
config = NGramsDecontConfig(n_grams=13)
tokenizer, hash_func = load_word_tokenizer("en"), create_hash_func(config.hash_config)
index = tempfile.mkdtemp()
start = time.process_time()
for task, items in data["sets"].items():
    hashes = set()
    for item in items:
        words = tokenizer.word_tokenize(simplify_text(item, config.norm_config))
        hashes.update(hash_func(" ".join(g)) for g in ngrams(words, config.n_grams))
    np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(f"{index}/{task}.index.hashes")
build_s = time.process_time() - start
decont = NGramsDecontFilter(index, config=config)
decont.load_index_hashes()
start = time.process_time()
verdicts = []
for i, text in enumerate(data["docs"]):
    keep = decont.filter(Document(text=text, id=str(i)))
    verdicts.append(None if keep is True else "contaminated")
json.dump({"verdicts": verdicts, "seconds": time.process_time() - start, "build_s": build_s,
           "version": metadata.version("datatrove")}, open(sys.argv[2], "w"))
"""


def docs_qa_items(rng) -> tuple[list[dict], list[str], list[str]]:
    """(evaluation items, same-topic paragraphs not in the set, their shared page titles)."""
    from demo.text import STDLIB_CATEGORIES, english_pool

    by_title: dict[str, list[str]] = {}
    for category in ("language-reference", *STDLIB_CATEGORIES):
        for p in english_pool(category):
            if p.tag == "p" and 40 <= len(p.text.split()) <= 200:
                by_title.setdefault(p.title, []).append(p.text)
    items, near = [], []
    for title in sorted(by_title):
        paragraphs = sorted(set(by_title[title]))
        if len(paragraphs) < 2:
            continue
        rng.shuffle(paragraphs)
        item = paragraphs[0]
        sentences = re.split(r"(?<=[.!?])\s+", item)
        items.append({"question": sentences[0], "choices": sentences[1:], "answer": "A"})
        near.append(paragraphs[1])
    return items, near, sorted(by_title)


def bulk_items(rng, vocabulary: list[str], n_ngrams: int, words: int = 40) -> list[str]:
    return [" ".join(rng.choices(vocabulary, k=words)) for _ in range(-(-n_ngrams // (words - 12)))]


def variant(rng, text: str, kind: str, vocabulary: list[str]) -> str:
    words = text.split()
    if kind == "edited":
        for i in rng.sample(range(len(words)), 2):
            words[i] = rng.choice(vocabulary)
        return " ".join(words)
    if kind == "whitespace_case":
        return "".join((w.upper() if rng.random() < 0.3 else w.lower()) + rng.choice([" ", "  ", "\n", "\t "])
                       for w in words).strip()
    if kind == "punctuation":
        return re.sub(r"[.,;:()]", lambda m: rng.choice([" ", " - ", "; ", ""]), text)
    return text


def judge_all(docs: list[str], index, config: DecontaminateConfig, rounds: int = 3) -> tuple[list, float]:
    """Verdicts for every document in batches of 1024, and the fastest round's CPU seconds (shared machine)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        verdicts = []
        for s in range(0, len(docs), 1024):
            verdicts += [v.contaminated_by for v in judge_batch(docs[s:s + 1024], index, config)]
        best = min(best, time.process_time() - start)
    return verdicts, best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ngrams", type=int, default=1_000_000)
    p.add_argument("--planted", type=int, default=100, help="documents per planting variant")
    p.add_argument("--datatrove-python", default="/work/venvs/datatrove/bin/python")
    args = p.parse_args()
    rng = random.Random(3)
    items, near, _ = docs_qa_items(rng)
    item_texts = [" ".join([i["question"], *i["choices"], i["answer"]]) for i in items]
    pages = dev_pages()
    if not pages:
        raise SystemExit(f"decontam_bench: {DEV} not found (../shared/data beside this checkout)")
    vocabulary = sorted({w for t in pages for w in re.findall(r"[A-Za-z]{3,}", t)})
    bulk = bulk_items(rng, vocabulary, args.ngrams - 20 * len(item_texts))
    sets = {"docs-qa": item_texts, "bulk": bulk}

    kinds = ("verbatim", "edited", "whitespace_case", "punctuation")
    docs, labels = list(pages), ["clean"] * len(pages)
    for kind in kinds:
        for _ in range(args.planted):
            page = rng.choice(pages).split("\n")
            page.insert(rng.randint(0, len(page)), variant(rng, rng.choice(item_texts), kind, vocabulary))
            docs.append("\n".join(page))
            labels.append(kind)
    docs += near
    labels += ["same_topic"] * len(near)

    start = time.process_time()
    index = NgramIndex.build(list(sets.items()), 13)
    build_s = time.process_time() - start
    config = DecontaminateConfig()
    judge_batch(docs[:64], index, config)  # warm-up: numpy's first touch of the tables, outside the timing
    ours_verdicts, ours_s = judge_all(docs, index, config)
    blooms = {}
    for error in (1e-7, 1e-4):
        bloom_config = DecontaminateConfig(index="bloom", bloom_error=error)
        start = time.process_time()
        bloom = build_index(list(sets.items()), bloom_config)
        bloom_build_s = time.process_time() - start
        judge_batch(docs[:64], bloom, bloom_config)
        bloom_verdicts, bloom_s = judge_all(docs, bloom, bloom_config)
        blooms[error] = (bloom, bloom_verdicts, bloom_s, bloom_build_s)
    reference_verdicts, ref = None, None
    if Path(args.datatrove_python).exists():
        ref = run_json_driver(args.datatrove_python, DATATROVE_DRIVER, {"sets": sets, "docs": docs})
        reference_verdicts = ref["verdicts"]

    def summary(verdicts, seconds, build_seconds):
        rates = {}
        for kind in ("clean", *kinds, "same_topic"):
            hits = [v is not None for v, label in zip(verdicts, labels, strict=True) if label == kind]
            rates[kind] = {"documents": len(hits), "dropped": sum(hits)}
        return {"docs_per_s": round(len(docs) / seconds, 1), "index_build_s": round(build_seconds, 2),
                "found": {k: round(rates[k]["dropped"] / rates[k]["documents"], 4) for k in kinds},
                "false_drops": {k: rates[k]["dropped"] for k in ("clean", "same_topic")}, "counts": rates}

    ours = summary(ours_verdicts, ours_s, build_s)
    ours["index_ngrams"] = int(index.hashes.size)
    ours["index_mb_per_million_ngrams"] = round(index.nbytes / 1e6 / (index.hashes.size / 1e6), 2)
    ours_bloom = {}
    for error, (bloom, bloom_verdicts, bloom_s, bloom_build_s) in blooms.items():
        ours_bloom[str(error)] = summary(bloom_verdicts, bloom_s, bloom_build_s)
        ours_bloom[str(error)]["index_mb_per_million_ngrams"] = round(bloom.nbytes / sum(bloom.counts), 2)
    reference = summary(reference_verdicts, ref["seconds"], ref["build_s"]) if ref else None
    rows = [("sluice", ours), *((f"bloom {e}", r) for e, r in ours_bloom.items()), ("datatrove", reference)]
    for name, r in rows:
        if r:
            print(f"{name:12} {r['docs_per_s']:>8} docs/s  build {r['index_build_s']} s  found {r['found']}  "
                  f"false drops {r['false_drops']}")
    mean_chars = sum(map(len, docs)) / len(docs)
    result = {
        "name": "decontam",
        "machine": describe_machine("shared, one core used"),
        "date": date.today().isoformat(),
        "unit": "documents per CPU-second (one core) judged against the index; found = share of planted documents "
                "dropped",
        "ours": ours,
        "ours_bloom_index_by_error": ours_bloom,
        "reference": reference,
        "ratio": round(ours["docs_per_s"] / reference["docs_per_s"], 1) if reference else None,
        "params": {"ngram": 13, "min_overlap": 1, "mode": "drop", "eval_items": {k: len(v) for k, v in sets.items()},
                   "documents": len(docs), "mean_doc_chars": round(mean_chars), "planted_per_variant": args.planted,
                   "reference": f"datatrove {ref['version']} NGramsDecontFilter, spaCy en tokenizer" if ref else None},
    }
    (ROOT / "benchmarks" / "results" / "decontam.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
