"""WCXB-format page sets (../shared/data/wcxb-dev): pages with their type and full main-content ground truth, and
the benchmark's metric, so training, cross-validation and benchmarks/extract_bench.py --wcxb score alike.

Format: `html/<file_id>.html.gz` and `ground-truth.jsonl.gz`, one JSON object per page with file_id, url,
page_type, title, main_content, with, without. Metric (the benchmark's, as its README states it): lowercase,
`\\w+` tokens, multiset overlap; P = overlap / predicted, R = overlap / reference, F1 their harmonic mean, 1.0 when
both are empty; averaged over pages. Snippets: share of `with` found, share of `without` found (case-insensitive).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from classifiers.fasttext_model import TrainingError

PAGE_TYPES = ("article", "forum", "product", "collection", "listing", "documentation", "service")
_TOKEN = re.compile(r"\w+")


@dataclass
class WcxbPage:
    file_id: str
    url: str
    page_type: str
    title: str
    main_content: str
    with_: list[str]
    without: list[str]
    html_path: Path

    @property
    def domain(self) -> str:
        host = (urlsplit(self.url).hostname or "").lower()
        return host[4:] if host.startswith("www.") else host

    def html(self) -> str:
        return gzip.decompress(self.html_path.read_bytes()).decode("utf-8", errors="replace")


def is_wcxb_dir(root: str | Path) -> bool:
    return (Path(root) / "ground-truth.jsonl.gz").is_file()


def load_pages(root: str | Path) -> list[WcxbPage]:
    root = Path(root)
    truth = root / "ground-truth.jsonl.gz"
    if not truth.is_file():
        raise TrainingError(f"{truth}: not found (is {root} a WCXB-format folder?)")
    pages = []
    with gzip.open(truth, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            pages.append(WcxbPage(d["file_id"], d.get("url", ""), d.get("page_type", "article"), d.get("title", ""),
                                  d.get("main_content", ""), list(d.get("with", [])), list(d.get("without", [])),
                                  root / "html" / f"{d['file_id']}.html.gz"))
    return sorted(pages, key=lambda p: p.file_id)


def sample(pages: list[WcxbPage], per_type: int) -> list[WcxbPage]:
    """The first `per_type` pages of each type by file_id: a fixed, stratified subset for quick measurements."""
    taken: Counter = Counter()
    out = []
    for page in pages:
        if taken[page.page_type] < per_type:
            taken[page.page_type] += 1
            out.append(page)
    return out


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def word_prf(predicted: str, reference: str) -> tuple[float, float, float]:
    p, r = Counter(tokens(predicted or "")), Counter(tokens(reference or ""))
    n_p, n_r = sum(p.values()), sum(r.values())
    if n_p == 0 and n_r == 0:
        return 1.0, 1.0, 1.0
    if n_p == 0 or n_r == 0:
        return 0.0, 0.0, 0.0
    overlap = sum((p & r).values())
    precision, recall = overlap / n_p, overlap / n_r
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return precision, recall, f1


def snippet_counts(predicted: str, page: WcxbPage) -> tuple[int, int]:
    """(with snippets found, without snippets found) in one output, case-insensitive, whitespace squashed."""
    text = " ".join((predicted or "").lower().split())
    found = sum(" ".join(s.lower().split()) in text for s in page.with_) if text else 0
    leaked = sum(" ".join(s.lower().split()) in text for s in page.without) if text else 0
    return found, leaked


def score(outputs: list[str], pages: list[WcxbPage]) -> dict:
    """{"all": {...}, "<type>": {...}}: mean P/R/F1, with-found and without-found rates, page counts."""
    rows: dict[str, list] = {}
    for text, page in zip(outputs, pages, strict=True):
        prf = word_prf(text, page.main_content)
        found, leaked = snippet_counts(text, page)
        for key in ("all", page.page_type):
            rows.setdefault(key, []).append((*prf, found, len(page.with_), leaked, len(page.without)))
    out = {}
    for key in ("all", *PAGE_TYPES):
        if key not in rows:
            continue
        r = rows[key]
        n = len(r)
        out[key] = {"pages": n, "precision": sum(x[0] for x in r) / n, "recall": sum(x[1] for x in r) / n,
                    "f1": sum(x[2] for x in r) / n, "with": sum(x[3] for x in r) / max(sum(x[4] for x in r), 1),
                    "without": sum(x[5] for x in r) / max(sum(x[6] for x in r), 1)}
    return out
