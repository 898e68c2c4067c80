"""extraction-dev pages (../shared/data/extraction-dev) as training and cross-validation pages for the WCXB-trained
fast extractor (classifiers/extractor_wcxb.py).

They carry no full main content, only `with`/`without` snippets, so a block's label is trafilatura(favor_precision)'s
decision (on these news-style pages its boilerplate-free output is the better teacher: classifiers/extractor.py),
overridden by the annotation: a block holding a `with` snippet is content, one holding only a `without` snippet is
not, and those marked blocks weigh `annotation_weight` times more. The page's type probabilities come from the
page-type model like any page's (extraction-dev has no type labels; it never trains the page-type model).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from classifiers.extractor import annotation_marks, squash, teacher_labels


def dev_url(key: str) -> str:
    url = key.split("::")[-1].strip()
    return url if url.startswith("http") else f"http://{url}/"


def dev_domain(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host


def extraction_dev_pages(root: str | Path, limit: int = 0) -> list:
    """classifiers.extractor_wcxb.TrainingPage per annotated page (sorted by key; the first `limit` when > 0),
    `entry` set; a page without blocks has blocks None and `teacher` as its text (what the extract stage's
    trafilatura fallback would give)."""
    from classifiers.extractor import dev_annotations
    from classifiers.extractor_wcxb import TrainingPage
    from pipeline.extract.fast import FastParseError, block_features, parse_page
    from pipeline.extract.main_text import decode_html
    from pipeline.extract.page_type import page_signals, signal_names

    root = Path(root)
    entries, teacher = dev_annotations(root)
    out = []
    for key, entry in entries[:limit] if limit else entries:
        html = decode_html(gzip.decompress((root / "html" / entry["file"]).read_bytes())) or ""
        url = dev_url(key)
        text = teacher.extract_html(html, None, url)[0] or ""
        try:
            tree, blocks = parse_page(html)
        except FastParseError:
            tree, blocks = None, None
        page = TrainingPage(None, None, np.zeros((0, 0), np.float32), np.zeros(len(signal_names()), np.float32),
                            np.zeros(0, np.int8), entry=entry, url=url, teacher=text)
        if blocks is not None and len(blocks):
            features = block_features(blocks)
            page.blocks, page.features = blocks, features
            page.signals = page_signals(html, url, tree, blocks, features)
            page.labels, page.marks = teacher_labels(blocks, text), annotation_marks(blocks, entry)
        out.append(page)
    return out


def snippet_rates(texts: list[str], pages: list) -> dict:
    """Share of `with` snippets found and of `without` snippets absent (whitespace squashed, as upstream scores)."""
    found = absent = n_with = n_without = 0
    for text, page in zip(texts, pages, strict=True):
        text = squash(text)
        found += sum(bool(text) and squash(s) in text for s in page.entry["with"])
        absent += sum(not (text and squash(s) in text) for s in page.entry["without"])
        n_with, n_without = n_with + len(page.entry["with"]), n_without + len(page.entry["without"])
    return {"with": round(found / max(n_with, 1), 4), "without": round(absent / max(n_without, 1), 4),
            "pages": len(pages)}
