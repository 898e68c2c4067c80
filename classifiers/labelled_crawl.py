"""A labelled crawl as training data: WARC files with a `labels.jsonl` beside them, one JSON object per page
(`url`, `warc_file`, `warc_offset`, `content_type`, `record_intact`, and whatever the page is labelled with:
`quality`, `category`, `web_type`, `article_lines`, `clutter_lines`).

`sluice sample-crawl` writes one (demo/); a user can write one for pages they labelled themselves. Each page is read
back at its recorded offset, one gzip member, so a crawl's damaged records are never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from classifiers.fasttext_model import TrainingError
from pipeline.jsonl import JsonLinesError, json_objects

LABELS_FILE = "labels.jsonl"
_BULLET = re.compile(r"^(?:[-*•·]\s+)")


def unbullet(line: str) -> str:
    """trafilatura writes list items as '- item'; a page's labelled lines have the bare item."""
    return _BULLET.sub("", line)


def read_labels(crawl: str | Path) -> dict[str, dict]:
    """url -> label of every page in CRAWL/labels.jsonl; a missing file or a bad line is a TrainingError."""
    path = Path(crawl) / LABELS_FILE
    if not path.is_file():
        raise TrainingError(f"{path}: not found (is {crawl} a `sluice sample-crawl` output?)")
    labels = {}
    with open(path, encoding="utf-8") as f:
        try:
            for line_no, record in json_objects(f, str(path)):
                if "url" not in record:
                    raise TrainingError(f"{path}:{line_no}: no 'url' field")
                labels[record["url"]] = record
        except JsonLinesError as e:
            raise TrainingError(str(e)) from None
    return labels


def html_records(crawl: str | Path) -> Iterator[tuple[str, dict, bytes, str | None]]:
    """(url, label, HTTP body, Content-Type) of every intact HTML response the labels list, in labels order."""
    from warcio.archiveiterator import ArchiveIterator

    for url, label in read_labels(crawl).items():
        if not label.get("record_intact", True) or label.get("content_type") != "text/html":
            continue
        with open(Path(crawl) / label["warc_file"], "rb") as f:
            f.seek(label["warc_offset"])
            record = next(iter(ArchiveIterator(f)), None)
            if record is None or record.rec_type != "response":
                continue
            body = record.content_stream().read()
            content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
        yield url, label, body, content_type
