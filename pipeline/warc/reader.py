"""Stream HTTP responses out of WARC and ARC files (gzip or not) from any fsspec URL, surviving broken files.

warcio parses the records; this module and its two helpers add what a crawl-scale job needs around it: a record that
is cut short, damaged, has a wrong Content-Length or cannot be parsed is counted as `malformed_record:<kind>`, and
reading resumes at the next readable record instead of giving up on the rest of the file, so no undamaged record is
lost. Gzipped files are read member by member (warc/gzip_members.py: resync at the next gzip member, even after
garbage before the first one); uncompressed WARC files record by record, each record's frame (version line, header
block, Content-Length, the blank line behind it) checked before warcio parses it (warc/plain.py: resync at the next
`WARC/1.x` line). Turning a record into a document is shared (warc/record.py), and so is reading its body under a
cap (warc/body.py: chunked and content-encoded bodies are never inflated past it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import fsspec

from pipeline.input_files import expand_patterns
from pipeline.stats import DropReason, Stats
from pipeline.warc.gzip_members import GZIP_MAGIC, GzipMemberReader, first_member_start
from pipeline.warc.plain import PLAIN_RECORD_START, PlainSegmentReader, PlainWarcReader
from pipeline.warc.record import HTML_TYPES, RecordReader, WarcResponse

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HTML_TYPES", "WarcResponse", "expand_inputs", "iter_responses"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 5_000_000
_SCAN_BLOCK = 1 << 20


def expand_inputs(patterns: list[str] | str) -> list[str]:
    """Globs/URLs → the sorted, de-duplicated list of files; a pattern that matches nothing is an error naming it.
    A directory is no WARC file: it matches nothing."""
    return expand_patterns(patterns, lambda fs, path: [] if fs.isdir(path) else [path])


def iter_responses(url: str, stats: Stats, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Iterator[WarcResponse]:
    """Every HTTP response (and HTML resource record) of one WARC/ARC file, in file order.

    Counting: `stats.records_in` grows by one for each response yielded and for each record dropped here:
    `malformed_record`, one per damage, with the counter `malformed_record:<kind>` saying which (`truncated`: the
    file ends inside it; `gzip_corrupt`: its gzip member fails to decompress or its CRC/length check; `garbage`:
    bytes that are no gzip member; `not_a_record`; `wrong_length`; `block_digest_mismatch`; `no_http_message`; or
    the parser's exception name), or `decode_error` (a Content-Encoding that is not gzip, deflate or br, or one
    that breaks midway). The caller accounts for the yielded ones. Other record types (request, warcinfo, revisit,
    metadata, non-HTML resource) are not documents: they only go into counters `skipped_record_type:<type>`.
    A body longer than `max_body_bytes` is cut there and flagged `truncated` (memory stays bounded; the extractor
    drops it as too_large). A file that cannot be opened is listed in `failed_inputs` and counted as one
    `missing_input` drop. Offsets are positions in the file as stored (a gzip record: its member's start; a record
    inside a member holding several: see pipeline/warc/gzip_members.py).
    """
    try:
        with fsspec.open(url, "rb") as f:
            yield from _open_reader(f, url, stats, max_body_bytes).responses()
    except (OSError, ValueError) as e:  # could not be opened (missing, permission, bad URL), or the read broke
        log.warning("cannot read %s: %s", url, e)
        stats.failed_inputs.append(url)
        stats.records_in += 1
        stats.drop(DropReason.MISSING_INPUT)


def _open_reader(f, url: str, stats: Stats, max_body_bytes: int) -> RecordReader:
    """Gzip or plain, by the first bytes; a file that starts with junk is gzip if a member holding a record comes
    before any plain record start (the walker then counts the junk and resyncs past it)."""
    head = f.read(4096)
    if not head.startswith(GZIP_MAGIC) and not PLAIN_RECORD_START.match(head.lstrip(b"\r\n\t \x00")):
        head += f.read(_SCAN_BLOCK - len(head))
        member = first_member_start(head)
        plain = PLAIN_RECORD_START.search(head)
        if member is not None and (plain is None or member < plain.start()):
            head = GZIP_MAGIC
    f.seek(0)
    if head.startswith(GZIP_MAGIC):
        return GzipMemberReader(f, url, stats, max_body_bytes)
    first = PLAIN_RECORD_START.search(head)
    is_arc = first is not None and first.group(1) is None  # an ARC header line before any WARC version line
    if not is_arc and f.seekable():
        return PlainWarcReader(f, url, stats, max_body_bytes)
    reader = PlainSegmentReader(f, url, stats, max_body_bytes)
    reader.is_arc = head.startswith(b"filedesc://")
    return reader
