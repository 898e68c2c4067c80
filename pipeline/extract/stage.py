"""The extract stage for one WARC file: read → extract main text → language id → rule-based filters.

Pure Python, so the Spark job, a benchmark or a test run exactly the same code on one file.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.audit import DroppedSample
from pipeline.document import Document, document_id, url_domain
from pipeline.extract.main_text import ExtractConfig, TextExtractor
from pipeline.extract.page_features import page_columns
from pipeline.filters import FiltersConfig, build_chain
from pipeline.pii.formatter import PIIConfig, PIIFormatter
from pipeline.stats import Stats
from pipeline.warc.reader import iter_responses

# Language id runs once per batch of this many documents: one fastText call instead of one per page.
LANG_BATCH = 64


def extract_documents(
    warc_url: str, extract: ExtractConfig, filters: FiltersConfig, stats: Stats, pii: PIIConfig | None = None,
    dropped: DroppedSample | None = None,
) -> Iterator[Document]:
    """Kept documents of one WARC/ARC file, in file order; every record read is counted in `stats`.

    With `[pii] enabled`, kept documents have personal data masked (after the filters: they judge the page as
    written, and a masked placeholder must not change a verdict). `dropped` keeps the first pages of each drop
    reason (pipeline.audit)."""
    extractor = TextExtractor(extract, stats)
    chain = build_chain(filters)
    masker = PIIFormatter(pii) if pii is not None and pii.enabled else None
    pending: list[Document] = []
    no_page = dict.fromkeys(name for name, _ in page_columns(extract)) or None  # a page whose columns were not set
    # Read a little past the cap, so that an over-long body is recognised (and dropped as too_large) by the extractor.
    for response in iter_responses(warc_url, stats, max_body_bytes=extract.max_body_bytes + 1):
        text, reason = extractor.extract(response)
        if reason is not None:
            stats.drop(reason)
            if dropped is not None:
                dropped.add(reason, None, document_id(response.url, response.record_id), response.url, "")
            continue
        pending.append(
            Document(
                id=document_id(response.url, response.record_id),
                url=response.url,
                domain=url_domain(response.url),
                warc_path=response.warc_path,
                warc_offset=response.offset,
                fetch_time=response.fetch_time,
                lang="",
                lang_score=0.0,
                text=text,
                n_chars=len(text),
                page=extractor.last_page_features or no_page,
            )
        )
        if len(pending) >= LANG_BATCH:
            yield from _filter_batch(chain, pending, stats, masker, dropped)
            pending = []
    yield from _filter_batch(chain, pending, stats, masker, dropped)


def _filter_batch(chain, docs: list[Document], stats: Stats, masker: PIIFormatter | None,
                  dropped: DroppedSample | None) -> Iterator[Document]:
    reasons = chain.apply_batch(docs, stats)
    for doc, reason, rule, value in zip(docs, reasons, chain.last_rules, chain.last_values, strict=True):
        if reason is None:
            if masker is not None:
                masker.apply(doc, stats)
            doc.n_chars = len(doc.text)  # C4 may have removed lines
            stats.records_out += 1
            yield doc
        else:
            stats.drop(reason)
            if dropped is not None:
                dropped.add(reason, rule, doc.id, doc.url, doc.text, value)
