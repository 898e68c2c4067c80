"""The Document row: the columns every stage output keeps (each stage adds its own after them)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
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
    page: dict | None = None  # page_* columns ([extract] page_features, page_type), written after the others

    def to_row(self) -> dict:
        row = {name: getattr(self, name) for name in DOCUMENT_COLUMNS}
        if self.page is not None:
            row.update(self.page)
        return row


DOCUMENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Document) if f.name != "page")


def document_arrow_schema(page_columns: tuple[tuple[str, str], ...] = ()):
    """The Parquet schema of a documents/ output; stage outputs append their own columns to it. `page_columns`:
    (name, Arrow type) of the extract stage's page columns (pipeline.extract.page_features.page_columns)."""
    import pyarrow as pa

    page = [(name, getattr(pa, kind)()) for name, kind in page_columns]
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
            *page,
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
    return host.removeprefix("www.")


def write_documents(docs, url: str, row_group_rows: int = 2000, page_columns: tuple[tuple[str, str], ...] = ()) -> int:
    """Stream Documents into one Parquet file (zstd) at `url`; returns the row count.

    Written with pyarrow rather than Spark's writer because pyarrow's bytes depend on the rows alone
    (parquet-mr lists column encodings in hash-set order, which differs between JVMs)."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = document_arrow_schema(page_columns)
    rows = 0
    batch: list[dict] = []
    with (fsspec.open(url, "wb") as f,  # page CRCs: a flipped byte fails the next stage's read (pipeline.integrity)
          pq.ParquetWriter(f, schema, compression="zstd", write_page_checksum=True) as writer):
        for doc in docs:
            batch.append(doc.to_row())
            if len(batch) >= row_group_rows:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                rows += len(batch)
                batch = []
        if batch or rows == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            rows += len(batch)
    return rows
