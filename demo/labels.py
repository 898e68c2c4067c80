"""The sample crawl's ground truth (labels.jsonl beside its WARC.gz files) as training data for the demo.

`sluice sample-crawl` knows what it generated: for every page its URL, kind, quality (good/bad),
category, and which lines are article and which are clutter. Each page's HTML is read back from the
WARC files and run through the project's extractor with its default settings, as the extract stage
does, and its lines are then labelled from that truth. These labels exist for the demo; real users
bring their own (see README).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from classifiers.clutter import LabelledPage, content_lines
from classifiers.clutter_data import squash
from classifiers.fasttext_model import TrainingError
from classifiers.labelled_crawl import LABELS_FILE, html_records, read_labels, unbullet


@lru_cache(maxsize=4)
def _extracted(crawl: str, favor_recall: bool = False) -> tuple[tuple[str, str], ...]:
    """(url, extracted text) of every intact HTML page of labels.jsonl, read at its recorded WARC offset
    (one gzip member each), so the crawl's deliberately malformed records are never parsed."""
    from pipeline.extract.main_text import ExtractConfig, TextExtractor

    extractor = TextExtractor(ExtractConfig(favor_precision=not favor_recall, favor_recall=favor_recall,
                                            page_type=False))  # the text only
    out = []
    for url, _label, body, content_type in html_records(crawl):
        text, _reason = extractor.extract_html(body, content_type, url)
        if text:
            out.append((url, text))
    return tuple(out)


def crawl_documents(crawl: str | Path) -> list[dict]:
    """{"url", "text", "quality", "category", "kind", "web_type", "title"} for each extracted page with a label."""
    labels = read_labels(crawl)
    docs = []
    for url, text in _extracted(str(crawl)):
        label = labels.get(url)
        if label is not None:
            docs.append({"url": url, "text": text, "quality": label.get("quality"),
                         "category": label.get("category"), "kind": label.get("kind"),
                         "web_type": label.get("web_type"), "title": label.get("title")})
    if not docs:
        raise TrainingError(f"{crawl}: no extracted page matches a URL of {LABELS_FILE}")
    return docs


def crawl_clutter_pages(crawl: str | Path, favor_recall: bool = True) -> list[LabelledPage]:
    """Extracted lines labelled True when the generator wrote them as article text, False as clutter.

    The default (precision) extraction leaves little clutter to learn from; `favor_recall` adds each page
    a second time as trafilatura's recall mode extracts it, boilerplate and all."""
    labels = read_labels(crawl)
    pages = []
    extracted = _extracted(str(crawl)) + (_extracted(str(crawl), True) if favor_recall else ())
    for url, text in extracted:
        label = labels.get(url)
        if label is None:
            continue
        article = {unbullet(squash(s)) for s in label.get("article_lines", [])}
        clutter = {unbullet(squash(c["text"] if isinstance(c, dict) else c)) for c in label.get("clutter_lines", [])}
        lines = content_lines(text)
        keys = [unbullet(squash(ln)) for ln in lines]
        marks = [True if k in article else False if k in clutter else None for k in keys]
        if any(m is not None for m in marks):
            pages.append(LabelledPage(lines, marks))
    return pages
