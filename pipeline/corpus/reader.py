"""One corpus file → Documents (and the columns carried with them), in file order, every row counted.

Counting follows pipeline.warc.iter_responses: `stats.records_in` grows for every row; rows that cannot be documents
are dropped here (`malformed_record` for a line that is no JSON object or a text that is no string, `empty_text`
under input.min_chars); a file that cannot be opened is listed in `failed_inputs` and counted as one
`missing_input`; the caller accounts for the documents yielded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec

from pipeline.corpus.columns import ColumnMap, arrow_columns, resolve_columns, row_columns
from pipeline.corpus.config import InputConfig
from pipeline.corpus.detect import InputFormatError, compression, detect_kind, open_decompressed
from pipeline.document import Document, url_domain
from pipeline.stats import DropReason, Stats

log = logging.getLogger(__name__)
BATCH_ROWS = 1024


@dataclass
class CorpusBatch:
    documents: list[Document]
    carried: list[dict]  # per document, the carried columns' values
    carried_fields: list  # pyarrow fields of the carried columns (JSON values are written as strings)


def content_id(source: str, row: int, text: str) -> str:
    """A stable id for a row without one: its file's name, its row number and its text. (The text alone would
    give exact copies one id, and dedup tells documents apart by id.)"""
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return hashlib.sha1(f"{name}\x00{row}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


def read_corpus(url: str, config: InputConfig, stats: Stats, kind: str | None = None) -> Iterator[CorpusBatch]:
    """Documents of one Parquet, JSON-lines or Arrow file in batches; see the module docstring for the counting."""
    try:
        kind = kind or detect_kind(url)
        if kind == "empty":
            return
        rows = {"parquet": _parquet_rows, "arrow": _arrow_rows, "jsonl": _jsonl_rows}[kind](url, config, stats)
        yield from _documents(rows, url, config, stats)
    except InputFormatError:  # the user's column map does not fit the file: one line, not a counted skip
        raise
    except (OSError, ValueError) as e:  # could not be opened, or a damaged file (the error says how)
        log.warning("cannot read %s: %s", url, e)
        stats.failed_inputs.append(url)
        stats.records_in += 1
        stats.drop(DropReason.MISSING_INPUT)


def _mapped(available, config: InputConfig, url: str) -> ColumnMap:
    return resolve_columns(available, config, url)


def _parquet_rows(url: str, config: InputConfig, stats: Stats):
    import pyarrow.parquet as pq

    with fsspec.open(url, "rb") as f:
        pf = pq.ParquetFile(f)
        schema = pf.schema_arrow
        columns = _mapped(arrow_columns(schema), config, url)
        yield columns, [schema.field(c) for c in columns.carried]
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns.source_columns):
            yield batch.to_pylist()


def _arrow_rows(url: str, config: InputConfig, stats: Stats):
    import pyarrow as pa

    with fsspec.open(url, "rb") as f:
        data = pa.py_buffer(f.read())  # Arrow IPC needs random access (file) or reads it whole anyway (stream)
    try:
        reader = pa.ipc.open_file(data)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        reader = pa.ipc.open_stream(data)
        batches = iter(reader)
    schema = reader.schema
    columns = _mapped(arrow_columns(schema), config, url)
    yield columns, [schema.field(c) for c in columns.carried]
    for batch in batches:
        yield batch.select(columns.source_columns).to_pylist()


def _jsonl_rows(url: str, config: InputConfig, stats: Stats):
    import pyarrow as pa

    columns = None
    batch: list[dict] = []
    with fsspec.open(url, "rb") as raw:
        codec = compression(raw.read(4))
        raw.seek(0)
        for line in open_decompressed(raw, codec):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                stats.records_in += 1
                stats.drop(DropReason.MALFORMED_RECORD)
                stats.count("malformed_record:json")
                continue
            if columns is None:
                columns = _mapped(row_columns(row), config, url)
                yield columns, [pa.field(c, pa.string()) for c in columns.carried]
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


def _documents(rows, url: str, config: InputConfig, stats: Stats) -> Iterator[CorpusBatch]:
    columns: ColumnMap | None = None
    fields: list = []
    n = 0
    for item in rows:
        if isinstance(item, tuple):
            columns, fields = item
            continue
        docs, carried = [], []
        for row in item:
            index, n = n, n + 1
            stats.records_in += 1
            doc = _document(row, columns, url, index, config, stats)
            if doc is not None:
                docs.append(doc)
                carried.append({f.name: _carried_value(row.get(f.name), f) for f in fields})
        yield CorpusBatch(docs, carried, fields)


def _document(row: dict, columns: ColumnMap, url: str, index: int, config: InputConfig, stats: Stats):
    text = columns.value(row, "text")
    if text is not None and not isinstance(text, str):
        stats.drop(DropReason.MALFORMED_RECORD)
        stats.count("malformed_record:text_not_a_string")
        return None
    text = text or ""
    if len(text.strip()) < config.min_chars:
        stats.drop(DropReason.EMPTY_TEXT)
        return None
    doc_id = columns.value(row, "id")
    page_url = _string(columns.value(row, "url"))
    lang = _string(columns.value(row, "lang"))
    score = columns.value(row, "lang_score")
    try:
        lang_score = float(score) if score is not None else (1.0 if lang else 0.0)  # a label without a score is
    except (TypeError, ValueError):  # the corpus's own decision: trusted
        lang_score = 0.0
    return Document(
        id=str(doc_id) if doc_id not in (None, "") else content_id(url, index, text),
        url=page_url,
        domain=url_domain(page_url),
        warc_path=url,  # where the document came from: the corpus file and its row
        warc_offset=index,
        fetch_time=_string(columns.value(row, "date")),
        lang=lang,
        lang_score=lang_score,
        text=text,
        n_chars=len(text),
    )


def _string(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _carried_value(value, field):
    import pyarrow as pa

    if pa.types.is_string(field.type) and value is not None and not isinstance(value, str):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value
