"""A labelled semantic-dedup set from real web text: re-worded copies of real articles, and same-topic articles.

Text: the ground-truth main content of the WCXB dev pages (../shared/data/wcxb-dev/ground-truth.jsonl.gz, real
pages from ~1,300 sites, written by people, no generated text). Two kinds of labelled material:

* paraphrase pairs (label 1): an article and a copy made by a deterministic rewriting procedure (seeded, so the
  same set every run), one of
  - `reword`: 60% of the words found in a fixed table of function words and common verbs/nouns replaced by a
    near-synonym, about 30% of filler words ("the", "a", "that", ...) dropped (benchmarks.paraphrase_set.reword);
  - `reorder`: the sentences shuffled;
  - `abridge`: every fourth sentence dropped, then reworded (an excerpt re-published with edits);
  - `mix`: reworded, sentences shuffled, and wrapped in another site's header and footer.
  `reword`, `abridge` and `mix` break most 5-word shingles: MinHash misses them.
* same-topic documents (label 0): articles that mention one subject (a keyword in SUBJECTS) at least
  `min_mentions` times, none a copy of another: the near misses a semantic dedup must keep.

Pairs are scored by benchmarks/semdedup_calibrate.py; tests take a few dozen documents from here.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from functools import lru_cache
from pathlib import Path

from benchmarks.paraphrase_set import reorder, reword, template

GROUND_TRUTH = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "wcxb-dev" / "ground-truth.jsonl.gz"
SUBJECTS = ("artificial intelligence", "election", "insurance", "coffee", "climate", "recipe", "cancer", "garden")
KINDS = ("reword", "reorder", "abridge", "mix")
# Real duplicates inside WCXB dev, found by the calibration (benchmarks/semdedup_calibrate.py): file id -> the page
# it copies. 3035 and 0463 are one article at the same URL (with and without a trailing slash), extracted to
# 3,253 and 5,236 characters: cosine 1.0, content-word containment 0.985. Left out of the sets of distinct
# articles, and counted as a duplicate pair in the all-pages set.
KNOWN_DUPLICATES = {"3035": "0463"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=2)
def articles(path: str = str(GROUND_TRUTH), min_chars: int = 1200,
             max_chars: int = 6000) -> tuple[tuple[str, str], ...]:
    """(file_id, text) of the WCXB dev pages typed `article` with at least min_chars of main content, cut at the
    last sentence end before max_chars, in file order."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            text = " ".join(row["main_content"].split())
            if row["page_type"] != "article" or len(text) < min_chars or row["file_id"] in KNOWN_DUPLICATES:
                continue
            if len(text) > max_chars:
                cut = max(text.rfind(". ", 0, max_chars), text.rfind("? ", 0, max_chars))
                text = text[: cut + 1] if cut > min_chars else text[:max_chars]
            out.append((row["file_id"], text))
    return tuple(out)


def abridge(text: str, rng: random.Random) -> str:
    sentences = _SENTENCE.split(text)
    return reword(" ".join(s for i, s in enumerate(sentences) if i % 4 != 3 or len(sentences) < 4), rng)


def paraphrase(text: str, kind: str, rng: random.Random) -> str:
    if kind == "reword":
        return reword(text, rng)
    if kind == "reorder":
        return reorder(text, rng)
    if kind == "abridge":
        return abridge(text, rng)
    return template(reorder(reword(text, rng), rng), rng)


def paraphrase_rows(n: int, seed: int = 1, path: str = str(GROUND_TRUTH)) -> list[dict]:
    """n originals (a seeded sample of the articles) and one copy each: rows {id, text, group, kind}."""
    rng = random.Random(seed)
    pool = list(articles(path))
    rng.shuffle(pool)
    rows = []
    for g, (file_id, text) in enumerate(pool[:n]):
        kind = KINDS[g % len(KINDS)]
        rows.append({"id": f"w{file_id}", "text": text, "group": f"w{file_id}", "kind": "original"})
        rows.append({"id": f"w{file_id}-{kind}", "text": paraphrase(text, kind, rng), "group": f"w{file_id}",
                     "kind": kind})
    return rows


def same_topic_rows(min_mentions: int = 2, path: str = str(GROUND_TRUTH)) -> list[dict]:
    """Articles about one of SUBJECTS (each article under the first subject it mentions min_mentions times):
    rows {id, text, group: "", kind: "same_topic", subject}. No row is a copy of another."""
    rows = []
    for file_id, text in articles(path):
        low = text.lower()
        for subject in SUBJECTS:
            if low.count(subject) >= min_mentions:
                rows.append({"id": f"w{file_id}", "text": text, "group": "", "kind": "same_topic",
                             "subject": subject})
                break
    return rows


def labelled_pairs(rows: list[dict]) -> list[tuple[str, str, int]]:
    """(id, id, label): every original with its copy (1), and every two articles of one subject (0)."""
    by_group: dict[str, list[str]] = {}
    by_subject: dict[str, list[str]] = {}
    for r in rows:
        if r["group"]:
            by_group.setdefault(r["group"], []).append(r["id"])
        elif r.get("subject"):
            by_subject.setdefault(r["subject"], []).append(r["id"])
    pairs = [(a, b, 1) for members in by_group.values() for i, a in enumerate(members) for b in members[i + 1:]]
    pairs += [(a, b, 0) for members in by_subject.values() for i, a in enumerate(members) for b in members[i + 1:]]
    return pairs
