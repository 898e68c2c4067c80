"""The Document row every stage reads and writes (DESIGN.md, "Document row")."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlsplit


@dataclass(slots=True)
class Document:
    id: str
    url: str
    domain: str
    warc_path: str
    warc_offset: int
    fetch_time: str
    lang: str
    lang_score: float
    text: str
    n_chars: int

    def to_row(self) -> dict:
        return asdict(self)


DOCUMENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Document))


def document_arrow_schema():
    """The Parquet schema of a documents/ output; stage outputs append their own columns to it."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("url", pa.string()),
            ("domain", pa.string()),
            ("warc_path", pa.string()),
            ("warc_offset", pa.int64()),
            ("fetch_time", pa.string()),
            ("lang", pa.string()),
            ("lang_score", pa.float32()),
            ("text", pa.string()),
            ("n_chars", pa.int64()),
        ]
    )


def document_id(url: str, record_id: str) -> str:
    """Stable across runs and clusters: a function of what the crawl says, never of where a record was read."""
    return hashlib.sha1(f"{url}\x00{record_id}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


def url_domain(url: str) -> str:
    """Lowercased host without port or leading 'www.'; '' when the URL has none."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host
