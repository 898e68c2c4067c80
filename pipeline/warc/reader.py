"""Stream HTTP responses out of WARC and ARC files (gzip or not) from any fsspec URL, surviving broken files.

warcio parses the records; this module and its two helpers add what a crawl-scale job needs around it: a record that
is cut short, damaged, has a wrong Content-Length or cannot be parsed is counted as `malformed_record:<kind>`, and
reading resumes at the next readable record instead of giving up on the rest of the file, so no undamaged record is
lost. Gzipped files are read member by member (warc/gzip_members.py: resync at the next gzip member, even after
garbage before the first one); uncompressed files by warcio from a known record start (here: resync at the next
`WARC/1.x` or ARC header line). Turning a record into a document is shared (pipeline/warc/record.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import fsspec

from pipeline.stats import DropReason, Stats
from pipeline.warc.gzip_members import GZIP_MAGIC, GzipMemberReader, first_member_start
from pipeline.warc.record import HTML_TYPES, LenientArchiveIterator, RecordDamaged, RecordReader, WarcResponse

__all__ = ["DEFAULT_MAX_BODY_BYTES", "HTML_TYPES", "WarcResponse", "expand_inputs", "iter_responses"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 5_000_000
_GLOB_CHARS = re.compile(r"[*?\[]")
# A record start in an uncompressed file: a WARC version line, or an ARC v1 header line (URL IP 14-digit-date).
# The WARC line need not follow a newline: the record before it may have been cut mid-line.
_PLAIN_RECORD_START = re.compile(
    rb"(WARC/(?:1\.[01]|0\.1[78])\r?\n)|(?:^|\n)([a-z]+:\S* \d{1,3}(?:\.\d{1,3}){3} \d{14} )"
)
_SCAN_BLOCK = 1 << 20


def expand_inputs(patterns: list[str] | str) -> list[str]:
    """Globs/URLs → the sorted, de-duplicated list of files; a pattern that matches nothing is an error naming it."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: set[str] = set()
    unmatched = []
    for pattern in patterns:
        fs, path = fsspec.core.url_to_fs(pattern)
        if _GLOB_CHARS.search(path):
            matches = [p for p in fs.glob(path) if not fs.isdir(p)]
        else:
            matches = [path] if fs.exists(path) and not fs.isdir(path) else []
        if not matches:
            unmatched.append(pattern)
        found.update(fs.unstrip_protocol(p) if "://" in pattern else p for p in matches)
    if unmatched:
        raise FileNotFoundError(f"no input file matches: {', '.join(unmatched)}")
    return sorted(found)


def iter_responses(url: str, stats: Stats, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Iterator[WarcResponse]:
    """Every HTTP response (and HTML resource record) of one WARC/ARC file, in file order.

    Counting: `stats.records_in` grows by one for each response yielded and for each record dropped here:
    `malformed_record`, one per damage, with the counter `malformed_record:<kind>` saying which (`truncated`: the
    file ends inside it; `gzip_corrupt`: its gzip member fails to decompress or its CRC/length check; `garbage`:
    bytes that are no gzip member; `not_a_record`; `wrong_length`; `block_digest_mismatch`; `no_http_message`; or
    the parser's exception name), or `decode_error` (a Content-Encoding warcio cannot undo, e.g. br without the
    brotli package). The caller accounts for the yielded ones. Other record types (request, warcinfo, revisit,
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
    if not head.startswith(GZIP_MAGIC) and not _PLAIN_RECORD_START.match(head.lstrip(b"\r\n\t \x00")):
        head += f.read(_SCAN_BLOCK - len(head))
        member = first_member_start(head)
        plain = _PLAIN_RECORD_START.search(head)
        if member is not None and (plain is None or member < plain.start()):
            head = GZIP_MAGIC
    f.seek(0)
    if head.startswith(GZIP_MAGIC):
        return GzipMemberReader(f, url, stats, max_body_bytes)
    reader = _PlainReader(f, url, stats, max_body_bytes)
    reader.is_arc = head.startswith(b"filedesc://")
    return reader


class _Resync(Exception):
    """Reading must restart at the next record start after `after`."""

    def __init__(self, after: int):
        self.after = after


class _PlainReader(RecordReader):
    """An uncompressed file, read in segments: each segment is an ArchiveIterator from a known record start."""

    def __init__(self, f, url: str, stats: Stats, max_body_bytes: int):
        super().__init__(url, stats, max_body_bytes)
        self.f = f

    def responses(self) -> Iterator[WarcResponse]:
        start: int | None = 0
        resyncing = False  # after a failure, a candidate start that does not parse is not counted again
        while start is not None:
            self.f.seek(start)
            it = LenientArchiveIterator(self.f, arc2warc=True, check_digests=True)
            try:
                for record in it:
                    try:
                        response = self.read_record(it, record)
                    except RecordDamaged as e:
                        if self.f.seekable():
                            # a bad length may have hidden the next records: restart at the next record start
                            raise _Resync(e.record_start) from None
                        response = None
                    resyncing = False
                    if response is not None:
                        yield response
                start = None
                self.f.seek(it.offset)
                if self.f.read(1 << 16).strip(b"\r\n\t \x00"):
                    # warcio stops quietly at a record cut off inside its headers: count it once, then look for a
                    # readable record behind it
                    if not resyncing:
                        self.drop(DropReason.MALFORMED_RECORD, "truncated")
                    start = self._find_next_start(it.offset + 1) if self.f.seekable() else None
                    resyncing = True
            except _Resync as e:
                start = self._find_next_start(e.after + 1)
                resyncing = True
            except Exception as e:  # noqa: BLE001 - header parse errors, short reads: same recovery
                start = self._after_failure(e, it.offset, resyncing)
                resyncing = True

    def _after_failure(self, error: Exception, failed_at: int, resyncing: bool) -> int | None:
        if not resyncing:
            log.warning("%s: malformed record at offset %d: %s", self.url, failed_at, str(error).strip()[:200])
            self.drop(DropReason.MALFORMED_RECORD, type(error).__name__)
        if not self.f.seekable():
            self.stats.count("warc_unrecoverable")
            return None
        return self._find_next_start(failed_at + 1)

    def _find_next_start(self, pos: int) -> int | None:
        """Offset of the next plausible record start at or after `pos`, scanning the raw file in blocks."""
        overlap = 64
        while True:
            self.f.seek(pos)
            block = self.f.read(_SCAN_BLOCK)
            if not block:
                return None
            m = _PLAIN_RECORD_START.search(block)
            if m:
                return pos + m.start(1 if m.group(1) else 2)
            if len(block) < _SCAN_BLOCK:
                return None
            pos += len(block) - overlap
