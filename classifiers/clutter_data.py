"""Labelled lines for the clutter remover, from pages whose main content is known.

Every source runs the project's extractor (`pipeline.extract.main_text.html_to_text`) and labels each line of its
output by whether it belongs to the reference content:

* the sample crawl (`sluice sample-crawl`): its labels.jsonl lists each page's article and clutter lines;
* ../shared/data/extraction-dev (trafilatura's annotated pages): a line holding a `with` snippet is
  content, one holding a `without` snippet is clutter, others are context only;
* a user's own pages: JSONL/Parquet rows with `html` and `content` (the reference main text).

Pages of extraction-dev are split by a hash of their URL, so the held-out pages that measure the remover
never train it.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from classifiers.clutter import LabelledPage, content_lines

_SPACE = re.compile(r"\s+")
HOLDOUT_BUCKETS = 4  # one URL-hash bucket in 4 is held out for measurement


def squash(text: str) -> str:
    """Whitespace runs to one space, ends stripped: how trafilatura's evaluation compares snippets."""
    return _SPACE.sub(" ", text).strip()


def is_heldout(url: str) -> bool:
    import xxhash

    return xxhash.xxh64_intdigest(url.encode()) % HOLDOUT_BUCKETS == 0


def label_by_reference(lines: list[str], content: set[str]) -> list[bool]:
    """A line is content when it (whitespace-squashed) is one of the reference content lines."""
    return [squash(line) in content for line in lines]


def label_by_snippets(lines: list[str], with_: list[str], without: list[str]) -> list[bool | None]:
    """True: the line holds (or is part of) a `with` snippet; False: same for `without`; None otherwise or both."""
    def hits(line: str, snippets: list[str]) -> bool:
        return any(s and (s in line or (len(line) >= 12 and line in s)) for s in snippets)

    with_ = [squash(s) for s in with_]
    without = [squash(s) for s in without]
    labels: list[bool | None] = []
    for line in lines:
        line = squash(line)
        is_content, is_clutter = hits(line, with_), hits(line, without)
        labels.append(is_content if is_content != is_clutter else None)
    return labels


def extraction_dev_entries(root: str | Path, heldout: bool) -> Iterator[tuple[str, dict, bytes]]:
    """(url, annotation, html bytes) of the training or the held-out pages, in URL order."""
    root = Path(root)
    entries = json.loads((root / "evaldata-dev.json").read_text())
    for url in sorted(entries):
        if is_heldout(url) != heldout:
            continue
        entry = entries[url]
        yield url, entry, gzip.decompress((root / "html" / entry["file"]).read_bytes())


def extraction_dev_pages(root: str | Path, extract: Callable[[bytes, str], str | None]) -> list[LabelledPage]:
    pages = []
    for url, entry, html in extraction_dev_entries(root, heldout=False):
        text = extract(html, url)
        if text:
            lines = content_lines(text)
            pages.append(LabelledPage(lines, label_by_snippets(lines, entry.get("with", []),
                                                               entry.get("without", []))))
    return pages


def snippet_rates(root: str | Path, extract: Callable[[bytes, str], str | None],
                  clean: Callable[[str], str] | None = None) -> dict:
    """On the held-out pages: share of `with` snippets found (want high) and `without` found (want low)."""
    found_with = found_without = n_with = n_without = pages = 0
    for url, entry, html in extraction_dev_entries(root, heldout=True):
        text = extract(html, url) or ""
        if clean is not None and text:
            text = clean(text)
        text = squash(text)
        pages += 1
        for snippet in entry.get("with", []):
            n_with += 1
            found_with += squash(snippet) in text
        for snippet in entry.get("without", []):
            n_without += 1
            found_without += squash(snippet) in text
    return {"pages": pages, "with_rate": round(found_with / max(n_with, 1), 4),
            "without_rate": round(found_without / max(n_without, 1), 4), "with": n_with, "without": n_without}


def reference_pages(rows: list[dict], extract: Callable[[bytes, str], str | None]) -> list[LabelledPage]:
    """Rows with `html` and `content` (and optionally `url`): lines of the extraction vs the reference."""
    pages = []
    for row in rows:
        html = row["html"].encode() if isinstance(row["html"], str) else row["html"]
        text = extract(html, row.get("url"))
        if text:
            lines = content_lines(text)
            content = {squash(line) for line in row["content"].split("\n") if line.strip()}
            pages.append(LabelledPage(lines, label_by_reference(lines, content)))
    return pages
