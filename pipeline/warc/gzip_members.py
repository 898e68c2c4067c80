"""Read a gzipped WARC/ARC member by member, so damage anywhere costs only the record it hits.

warcio reads a .warc.gz as one stream of concatenated members: a member cut short, a flipped byte or garbage
between members makes it decompress across the boundary into the next record, print the zlib error and carry on
with the bytes it has, or raise zlib.error. Here every member is decompressed on its own (zlib, wbits=31) and handed
to warcio as a plain stream that ends exactly at the member's end — and only once its CRC and length have been
checked: a damaged member raises StreamDamaged instead of ending quietly, so its record is counted
`malformed_record:<kind>` and never yielded changed. Reading then resumes at the next gzip member start (scanning the
raw bytes for 1f 8b 08 from one byte after the damaged member's start, so no member behind it is skipped).

Offsets: a record's offset is its member's start in the file, as warcio reports it for per-record gzip; a member
holding several records (a whole file gzipped as one member) gives each record its member's start plus the record's
position in the decompressed member (for a file that is one member: the decompressed stream position).
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterator

from pipeline.stats import DropReason
from pipeline.warc.record import LenientArchiveIterator, RecordDamaged, RecordReader, StreamDamaged, WarcResponse

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b\x08"
_RAW_BLOCK = 1 << 16
_SCAN_BLOCK = 1 << 20
_PEEK_BYTES = 1 << 16  # a record's first line must end within this many decompressed bytes
_BLANK = b"\r\n\t \x00"
_FIRST_LINE = re.compile(rb"[\r\n\t \x00]*[^\r\n]+\r?\n")
_ARC_LINE = re.compile(rb"[a-z]+:\S* \d{1,3}(?:\.\d{1,3}){3} \d{14} ")


class _Cursor:
    """The raw file with a read position and pushback (the bytes a member did not use belong to the next one)."""

    def __init__(self, f):
        self.f, self.pos, self.pending = f, 0, b""
        self.seekable = f.seekable()

    def read(self, size: int) -> bytes:
        """`size` bytes, fewer only at the end of the file. Callers compare what they get with a fixed pattern (the
        gzip magic), so a short read must never come from pushback running out or from a stream that returns
        less than asked: that made a member start look like garbage."""
        out, self.pending = self.pending[:size], self.pending[size:]
        while len(out) < size:
            more = self.f.read(size - len(out))
            if not more:
                break
            out += more
        self.pos += len(out)
        return out

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending
        self.pos -= len(data)

    def seek(self, pos: int) -> bool:
        """Move to `pos`; False when the file cannot go back that far (a non-seekable stream)."""
        if self.pos <= pos <= self.pos + len(self.pending):
            self.pending = self.pending[pos - self.pos :]
        elif self.seekable:
            self.f.seek(pos)
            self.pending = b""
        else:
            return False
        self.pos = pos
        return True


class _Member:
    """File-like: the decompressed bytes of the gzip member at raw offset `start`; b"" only at a verified end."""

    def __init__(self, cursor: _Cursor, start: int):
        self.cursor, self.start = cursor, start
        self.decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.returned = 0
        self.buffered = b""
        self.damage: StreamDamaged | None = None  # found while peeking ahead: raised when reading gets there
        self.end: int | None = None  # raw offset just past the member, once its trailer checked out

    def tell(self) -> int:
        return self.start + self.returned

    def read(self, size: int = -1) -> bytes:
        size = size if size is not None and size > 0 else _RAW_BLOCK
        if self.buffered:
            out, self.buffered = self.buffered[:size], self.buffered[size:]
        else:
            out = self._inflate(size)
        self.returned += len(out)
        return out

    def peek(self) -> bytes:
        """The first decompressed bytes (up to _PEEK_BYTES, fewer if the member is shorter), left to be read."""
        while len(self.buffered) < _PEEK_BYTES and self.end is None and self.damage is None:
            try:
                self.buffered += self._inflate(_PEEK_BYTES - len(self.buffered))
            except StreamDamaged as e:
                self.damage = e
        return self.buffered

    def drain(self) -> None:
        """Read to the verified end; StreamDamaged if the member is damaged further on."""
        self.buffered = b""
        while self._inflate(_SCAN_BLOCK):
            pass

    def _inflate(self, size: int) -> bytes:
        if self.damage is not None:
            raise self.damage
        while not self.decomp.eof:
            data = self.decomp.unconsumed_tail or self.cursor.read(_RAW_BLOCK)
            if not data:
                raise StreamDamaged("truncated")  # the file ends inside this member
            try:
                out = self.decomp.decompress(data, size)
            except zlib.error as e:  # bad header, bad deflate data, CRC or length mismatch
                raise StreamDamaged("gzip_corrupt") from e
            if out:
                return out
        if self.end is None:
            # everything read past the trailer is in unused_data (unconsumed_tail may still hold a stale copy of it)
            self.cursor.unread(self.decomp.unused_data)
            self.end = self.cursor.pos
        return b""


class GzipMemberReader(RecordReader):
    """Walks the members of one gzipped file, resynchronising at the next member start after any damage."""

    def __init__(self, f, url: str, stats, max_body_bytes: int):
        super().__init__(url, stats, max_body_bytes)
        self.cursor = _Cursor(f)
        self.resyncing = False  # after a damage, what follows up to the next good record is not counted again
        self.arc_known = False
        self.several_per_member = False

    def responses(self) -> Iterator[WarcResponse]:
        pos: int | None = 0
        while pos is not None:
            if not self.cursor.seek(pos):
                self.stats.count("warc_unseekable_resync")  # a stream cannot go back: resume where it stands
                pos = self.cursor.pos
            head = self.cursor.read(len(GZIP_MAGIC))
            self.cursor.unread(head)
            if head != GZIP_MAGIC:  # garbage before, between or after members (blank padding is not garbage)
                nxt, junk = self._next_magic(pos)
                if junk:
                    self._damage("garbage", pos)
                pos = nxt
                continue
            member = _Member(self.cursor, pos)
            try:
                yield from self._member_responses(member)
                if member.end is None:  # the parser stopped early (it never should): find the member's end anyway
                    member.drain()
            except StreamDamaged as e:
                self._damage(e.kind, pos)
                pos, _ = self._next_magic(pos + 1)
                continue
            pos = member.end

    def _member_responses(self, member: _Member) -> Iterator[WarcResponse]:
        head = member.peek()
        if not head.strip(_BLANK):
            member.drain()  # an empty member (or only record separators): nothing to count
            return
        if not _FIRST_LINE.match(head):
            member.drain()  # decompresses but holds no record header line
            self._damage("not_a_record", member.start)
            return
        if not self.arc_known:
            self.is_arc, self.arc_known = head.lstrip(_BLANK).startswith(b"filedesc://"), True
        it = LenientArchiveIterator(member, arc2warc=True, check_digests=True)
        held: WarcResponse | None = None  # yielded once the member is known to be whole behind it
        held_digest_ok = False
        n_records = 0
        try:
            for record in it:
                if held is not None:
                    yield held
                    held = None
                n_records += 1
                if n_records == 2 and not self.several_per_member:
                    self.several_per_member = True
                    self.stats.count("warc_non_per_record_gzip")
                try:
                    held = self.read_record(it, record)
                    held_digest_ok = record.digest_checker.passed is True
                except RecordDamaged:
                    self.resyncing = True  # counted; the rest of the member may be its leftover bytes
                    continue
                self.resyncing = False
        except StreamDamaged as e:
            yield from self._held_after_damage(held, held_digest_ok, e)
            raise
        except Exception as e:  # noqa: BLE001 - warcio cannot parse what follows; the member itself decompresses
            try:
                member.drain()
            except StreamDamaged as damage:
                yield from self._held_after_damage(held, held_digest_ok, damage)
                raise
            self._damage(type(e).__name__, it.offset, str(e))  # e.g. the second half of a split record
        if held is not None:
            yield held

    def _held_after_damage(self, held: WarcResponse | None, digest_ok: bool, damage: StreamDamaged):
        """A record read whole from a member that turns out damaged behind it (a member holding several records).

        Kept when nothing before the damage can have changed: the file was cut there (a deflate stream's prefix
        decodes the same) or the record's block digest matched; otherwise the damage may be in it, so it is counted.
        """
        if held is None:
            return
        if damage.kind == "truncated" or digest_ok:
            yield held
        else:
            self._damage("gzip_corrupt", held.offset)

    def _damage(self, kind: str, at: int, detail: str = "") -> None:
        if not self.resyncing:
            log.warning("%s: malformed record at offset %d: %s %s", self.url, at, kind, detail.strip()[:200])
            self.drop(DropReason.MALFORMED_RECORD, kind)
        self.resyncing = True

    def _next_magic(self, pos: int) -> tuple[int | None, bool]:
        """Offset of the next gzip member start (by its magic bytes) at or after `pos`, and whether the bytes
        skipped to reach it hold anything but blanks."""
        if not self.cursor.seek(pos):
            pos = self.cursor.pos
        tail, junk = b"", False
        while True:
            block = self.cursor.read(_SCAN_BLOCK)
            if not block:
                return None, junk
            data = tail + block
            hit = data.find(GZIP_MAGIC)
            if hit >= 0:
                self.cursor.unread(data[hit:])
                return pos - len(tail) + hit, junk or bool(data[:hit].strip(_BLANK))
            junk = junk or bool(data.strip(_BLANK))
            tail = data[-(len(GZIP_MAGIC) - 1) :]
            pos += len(block)


def first_member_start(head: bytes) -> int | None:
    """Where the first gzip member holding a WARC/ARC record starts in `head`, the first bytes of a file, if any."""
    at = head.find(GZIP_MAGIC)
    while at >= 0:
        try:
            data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head[at:], 4096).lstrip(_BLANK)
        except zlib.error:
            data = b""
        if data.startswith((b"WARC/", b"filedesc://")) or _ARC_LINE.match(data):
            return at
        at = head.find(GZIP_MAGIC, at + 1)
    return None
