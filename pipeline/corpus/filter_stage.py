"""The filter stage for one corpus file: read → language id where the corpus has no language → the rule filters
(the same FilterChain extract runs on WARC pages, so each rule has one definition) → PII masking when enabled.

Pure Python, so the Spark job, a benchmark and a test run exactly the same code on one file.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.audit import DroppedSample
from pipeline.corpus.config import InputConfig
from pipeline.corpus.reader import CorpusBatch, read_corpus
from pipeline.document import document_arrow_schema
from pipeline.filters import FiltersConfig, build_chain
from pipeline.pii.formatter import PIIConfig, PIIFormatter
from pipeline.stats import Stats


def filter_corpus(url: str, input_config: InputConfig, filters: FiltersConfig, stats: Stats,
                  pii: PIIConfig | None = None, dropped: DroppedSample | None = None) -> Iterator[CorpusBatch]:
    """Kept documents of one corpus file, in file order, with their carried columns; every row counted in `stats`,
    the first dropped documents of each reason kept in `dropped`."""
    chain = build_chain(filters)
    masker = PIIFormatter(pii) if pii is not None and pii.enabled else None
    for batch in read_corpus(url, input_config, stats):
        kept = CorpusBatch([], [], batch.carried_fields)
        reasons = chain.apply_batch(batch.documents, stats)
        for doc, carried, reason, rule, value in zip(batch.documents, batch.carried, reasons, chain.last_rules,
                                                     chain.last_values, strict=True):
            if reason is None:
                if masker is not None:
                    masker.apply(doc, stats)
                doc.n_chars = len(doc.text)  # C4 may have removed lines
                stats.records_out += 1
                kept.documents.append(doc)
                kept.carried.append(carried)
            else:
                stats.drop(reason)
                if dropped is not None:
                    dropped.add(reason, rule, doc.id, doc.url, doc.text, value)
        yield kept


def write_corpus_documents(batches, url: str) -> int:
    """Documents and their carried columns into one Parquet file (zstd, page CRCs) at `url`; returns the rows. The
    schema is the Document row, then the carried columns; bytes depend on the rows alone."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    writer = None
    schema = document_arrow_schema()
    with fsspec.open(url, "wb") as f:
        try:
            for batch in batches:
                if writer is None:
                    schema = pa.schema([*document_arrow_schema(), *batch.carried_fields])
                    writer = pq.ParquetWriter(f, schema, compression="zstd", write_page_checksum=True)
                if not batch.documents:
                    continue
                table = pa.Table.from_pylist(
                    [{**doc.to_row(), **carried} for doc, carried in zip(batch.documents, batch.carried, strict=True)],
                    schema=schema)
                writer.write_table(table)
                rows += table.num_rows
            if writer is None:
                writer = pq.ParquetWriter(f, schema, compression="zstd", write_page_checksum=True)
            if rows == 0:
                writer.write_table(schema.empty_table())
        finally:
            if writer is not None:
                writer.close()
    return rows
