"""Read an uncompressed WARC file record by record, each checked for its frame before warcio parses it.

Nothing in a plain WARC says where a record ends but its own Content-Length, so damage that moves bytes (a record cut
short, garbage spliced in) makes a parser that trusts the length read one record's body under another's headers:
warcio reads a cut header block on into the next record's headers and yields the next record's body under the cut
one's id. Here a record is handed to warcio only when its frame holds: its first line is a `WARC/1.x` version line, no
other line of its header block is one (that is the next record, behind a cut), its Content-Length is a number, and
the file has a blank line right where that length ends. A record that fails is counted `malformed_record:<kind>`
once (`truncated`: the file or the next record starts inside it; `wrong_length`; `garbage`: bytes that are no record;
`header_too_long`; `block_digest_mismatch`), and the next record start is searched for from one byte after its
start, so a record hidden inside a damaged one's span is still found. When the bytes after a record's blank line
are not a record start, its block digest decides whether it or the bytes behind it are the damage.

ARC files and streams that cannot seek are read by warcio from each record start, resyncing at the next record
start after a failure (PlainSegmentReader).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from pipeline.stats import DropReason, Stats
from pipeline.warc.record import LenientArchiveIterator, RecordDamaged, RecordReader, WarcResponse

log = logging.getLogger(__name__)

# A record start in an uncompressed file: a WARC version line, or an ARC v1 header line (URL IP 14-digit-date).
# The WARC line need not follow a newline: the record before it may have been cut mid-line.
PLAIN_RECORD_START = re.compile(
    rb"(WARC/(?:1\.[01]|0\.1[78])\r?\n)|(?:^|\n)([a-z]+:\S* \d{1,3}(?:\.\d{1,3}){3} \d{14} )"
)
_WARC_LINE = re.compile(rb"WARC/(?:1\.[01]|0\.1[78])\r?\n")
_WARC_LINE_AT_END = re.compile(rb"WARC/(?:1\.[01]|0\.1[78])\r?\n\Z")
_CONTENT_LENGTH = re.compile(rb"content-length:[ \t]*(\d+)[ \t]*\r?\n", re.IGNORECASE)
_BLANK = b"\r\n\t \x00"
_SCAN_BLOCK = 1 << 20
MAX_HEADER_BYTES = 1 << 16  # a WARC header block (not the HTTP headers, which are in the block) ends within this


def scan_for(f, pos: int, pattern: re.Pattern, overlap: int) -> tuple[int, re.Match] | None:
    """The first match of `pattern` at or after `pos` in the seekable file `f`, read in blocks that overlap by
    `overlap` bytes (a match cut by a block's end is whole in the next): (offset of its block, the match)."""
    while True:
        f.seek(pos)
        block = f.read(_SCAN_BLOCK)
        if not block:
            return None
        m = pattern.search(block)
        if m:
            return pos, m
        if len(block) < _SCAN_BLOCK:
            return None
        pos += len(block) - overlap


class PlainWarcReader(RecordReader):
    """A seekable uncompressed WARC file: every record's frame is checked before warcio parses it."""

    def __init__(self, f, url: str, stats: Stats, max_body_bytes: int):
        super().__init__(url, stats, max_body_bytes)
        self.f = f
        self.size = f.seek(0, 2)
        self.resyncing = False  # after a damage, what follows up to the next good record is not counted again
        self._digest_passed = False

    def responses(self) -> Iterator[WarcResponse]:
        pos: int | None = self._skip_blank(0)
        while pos is not None:
            frame = self._frame_at(pos)
            if isinstance(frame, str):
                self._damage(frame, pos)
                pos = self._next_start(pos + 1)
                continue
            end, clean_after = frame
            try:
                response = self._parse_at(pos)
            except RecordDamaged:
                self.resyncing = True
                pos = self._next_start(pos + 1)
                continue
            except Exception as e:  # noqa: BLE001 - warcio cannot parse what the frame check let through
                self._damage(type(e).__name__, pos, str(e))
                pos = self._next_start(pos + 1)
                continue
            if not clean_after and not self._digest_passed and self._start_within(pos + 1, end):
                # garbage behind a record that has no digest to vouch for it, and a record start inside its span:
                # more likely its length reaches into the next record than garbage follows it
                self._damage("wrong_length", pos)
                pos = self._next_start(pos + 1)
                continue
            self.resyncing = False
            if response is not None:
                yield response
            pos = self._skip_blank(end)

    def _frame_at(self, pos: int) -> tuple[int, bool] | str:
        """(where the record at `pos` ends, whether a record start or the end of file follows), or what is wrong."""
        self.f.seek(pos)
        head = self.f.read(8192)
        if _WARC_LINE.match(head) is None:
            return "garbage"
        if b"\n\r\n" not in head and b"\n\n" not in head:
            head += self.f.read(MAX_HEADER_BYTES - len(head))
        size, length, n_lengths, first = 0, None, 0, True
        while True:
            nl = head.find(b"\n", size)
            if nl < 0:
                return "truncated" if len(head) < MAX_HEADER_BYTES else "header_too_long"
            line, size = head[size : nl + 1], nl + 1
            if line in (b"\r\n", b"\n"):
                break  # the blank line that ends the header block
            if not first and _WARC_LINE_AT_END.search(line):
                return "truncated"  # another record starts inside this header block: this one was cut there
            m = _CONTENT_LENGTH.fullmatch(line)
            if m:
                length, n_lengths = int(m.group(1)), n_lengths + 1
            first = False
        if length is None or n_lengths > 1:
            return "wrong_length"
        end = pos + size + length
        if end > self.size:
            return "truncated"
        self.f.seek(end)
        if end < self.size and not self.f.read(2).startswith((b"\r\n", b"\n")):
            return "wrong_length"  # warcio's own check: a blank line right behind the block
        following = self._skip_blank(end)
        if following is None:
            return end, True
        self.f.seek(following)
        return end, _WARC_LINE.match(self.f.read(16)) is not None

    def _parse_at(self, pos: int) -> WarcResponse | None:
        self.f.seek(pos)
        it = LenientArchiveIterator(self.f, arc2warc=False, check_digests=True)
        self._digest_passed = False
        for record in it:
            response = self.read_record(it, record)
            self._digest_passed = record.digest_checker.passed is True
            return response
        raise EOFError("no record")

    def _start_within(self, start: int, end: int) -> bool:
        found = self._next_start(start)
        return found is not None and found < end

    def _damage(self, kind: str, at: int, detail: str = "") -> None:
        if not self.resyncing:
            log.warning("%s: malformed record at offset %d: %s %s", self.url, at, kind, detail.strip()[:200])
            self.drop(DropReason.MALFORMED_RECORD, kind)
        self.resyncing = True

    def _skip_blank(self, pos: int) -> int | None:
        """The first byte at or after `pos` that is not blank padding; None at the end of the file."""
        while True:
            self.f.seek(pos)
            block = self.f.read(4096)
            if not block:
                return None
            rest = block.lstrip(_BLANK)
            if rest:
                return pos + len(block) - len(rest)
            pos += len(block)

    def _next_start(self, pos: int) -> int | None:
        """Offset of the next WARC version line at or after `pos` (mid-line too: a cut record may precede it)."""
        found = scan_for(self.f, pos, _WARC_LINE, overlap=16)
        return None if found is None else found[0] + found[1].start()


class _Resync(Exception):
    """Reading must restart at the next record start after `after`."""

    def __init__(self, after: int):
        self.after = after


class PlainSegmentReader(RecordReader):
    """An uncompressed ARC file, or a stream that cannot seek, read in segments: each segment is an ArchiveIterator
    from a known record start."""

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
                if self.f.read(1 << 16).strip(_BLANK):
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
        found = scan_for(self.f, pos, PLAIN_RECORD_START, overlap=64)
        if found is None:
            return None
        block_start, m = found
        return block_start + m.start(1 if m.group(1) else 2)
