"""Stream HTTP responses out of WARC and ARC files (gzip or not) from any fsspec URL, surviving broken files.

warcio parses the records; this module adds what a crawl-scale job needs around it: a record that is cut short,
has a wrong Content-Length or cannot be parsed is counted as `malformed_record`, and reading resumes at the next
readable record (the next gzip member, or the next `WARC/1.x` / ARC header line in a plain file) instead of giving
up on the rest of the file. A file gzipped as one member instead of one member per record (warcio refuses those)
is read again as one decompressed stream, so none of its records is lost (its offsets are then positions in the
decompressed stream, the only ones that can locate a record in such a file).
"""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.exceptions import ArchiveLoadFailed

from pipeline.stats import DropReason, Stats

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 5_000_000
_GLOB_CHARS = re.compile(r"[*?\[]")
_GZIP_MAGIC = b"\x1f\x8b\x08"
# A record start in an uncompressed file: a WARC version line, or an ARC v1 header line (URL IP 14-digit-date).
# The WARC line need not follow a newline: the record before it may have been cut mid-line.
_PLAIN_RECORD_START = re.compile(
    rb"(WARC/(?:1\.[01]|0\.1[78])\r?\n)|(?:^|\n)([a-z]+:\S* \d{1,3}(?:\.\d{1,3}){3} \d{14} )"
)
_SCAN_BLOCK = 1 << 20
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class _Resync(Exception):
    """A record in an uncompressed file had a wrong length: it may have swallowed the records behind it."""

    def __init__(self, record_start: int):
        self.record_start = record_start


class _GunzipStream:
    """A read-only stream over concatenated gzip members that ends quietly where the data is cut off.

    gzip.GzipFile raises EOFError on a truncated file and loses the bytes it had decompressed, which warcio would
    take for a clean end of file; here the records before the cut are read and the cut record shows up short.
    """

    def __init__(self, raw):
        self.raw, self.pos = raw, 0
        self.decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        size = size if size is not None and size >= 0 else 1 << 20
        out = b""
        while len(out) < size:
            if self.decomp.eof:
                rest = self.decomp.unused_data
                if not rest:
                    rest = self.raw.read(1 << 16)
                if not rest.startswith(_GZIP_MAGIC[:2]):
                    break  # end of data (trailing bytes that are not another member are ignored)
                self.decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self.decomp.decompress(rest, size - len(out))
                continue
            data = self.decomp.unconsumed_tail or self.raw.read(1 << 16)
            if not data:
                break  # cut off inside a member
            out += self.decomp.decompress(data, size - len(out))
        self.pos += len(out)
        return out


class _LenientArchiveIterator(ArchiveIterator):
    """warcio's iterator, but blank lines before a record are skipped, not parsed as an empty record.

    A resync can land on a gzip member that begins with the previous record's CRLF CRLF separator;
    warcio would read that as a record with no headers and swallow the real record behind it.
    """

    def _next_record(self, next_line):
        while next_line is not None and not next_line.strip():
            next_line = self.reader.readline() or None
        if next_line is None:
            line = self.reader.readline()
            while line and not line.strip():
                line = self.reader.readline()
            next_line = line or None
        return super()._next_record(next_line)


@dataclass(slots=True)
class WarcResponse:
    """One HTTP response (or HTML resource) as the crawl stored it; `body` is already de-chunked and decoded."""

    url: str
    record_id: str
    offset: int  # start of the record in the file (of the decompressed stream for a whole-file gzip)
    fetch_time: str  # WARC-Date, ISO 8601
    http_headers: list[tuple[str, str]]
    content_type: str  # HTTP Content-Type, or the WARC Content-Type of a resource record
    body: bytes
    warc_path: str
    http_status: int | None = None
    truncated: bool = False  # the body was longer than the reader's cap; `body` holds its first bytes only


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
    `malformed_record` (cut short, wrong length, block digest mismatch, unparseable; the counter
    `malformed_record:<why>` says which) or `decode_error` (a Content-Encoding warcio cannot undo, e.g. br without
    the brotli package). The caller accounts for the yielded ones. Other record types (request, warcinfo, revisit,
    metadata, non-HTML resource) are not documents: they only go into counters `skipped_record_type:<type>`.
    A body longer than `max_body_bytes` is cut there and flagged `truncated` (memory stays bounded; the extractor
    drops it as too_large). A file that cannot be opened is listed in `failed_inputs` and counted as one
    `missing_input` drop. Offsets are positions in the file as stored, except in a whole-file gzip (see module doc).
    """
    try:
        with fsspec.open(url, "rb") as f:
            yield from _FileReader(f, url, stats, max_body_bytes).responses()
    except (OSError, ValueError) as e:  # could not be opened (missing, permission, bad URL), or the read broke
        log.warning("cannot read %s: %s", url, e)
        stats.failed_inputs.append(url)
        stats.records_in += 1
        stats.drop(DropReason.MISSING_INPUT)


class _FileReader:
    """Reads one open file in segments: each segment is an ArchiveIterator from a known record start."""

    def __init__(self, f, url: str, stats: Stats, max_body_bytes: int):
        self.f, self.url, self.stats, self.cap = f, url, stats, max_body_bytes
        head = f.read(4096)
        f.seek(0)
        self.is_gzip = head.startswith(_GZIP_MAGIC)
        if self.is_gzip:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        self.is_arc = head.startswith(b"filedesc://")
        self.streaming = False  # reading a whole-file gzip as one stream: no seeking back

    def responses(self) -> Iterator[WarcResponse]:
        start: int | None = 0
        resyncing = False  # after a failure, a candidate start that does not parse is not counted again
        while start is not None:
            self.f.seek(start)
            it = _LenientArchiveIterator(self.f, arc2warc=True, check_digests=True)
            seen = 0
            try:
                for record in it:
                    response = self._read_record(it, record)
                    seen += 1
                    resyncing = False
                    if response is not None:
                        yield response
                start = None
                self.f.seek(it.offset)
                if self.f.read(1 << 16).strip(b"\r\n\t \x00"):
                    # warcio stops quietly at a record cut off inside its gzip member or its headers: count it
                    # once, then look for a readable record behind it (a cut member mid-file hides the rest)
                    if not resyncing:
                        self._drop(DropReason.MALFORMED_RECORD, "truncated")
                    start = self._find_next_start(it.offset + 1) if self.f.seekable() else None
                    resyncing = True
            except _Resync as e:
                start = self._find_next_start(e.record_start + 1)
                resyncing = True
            except ArchiveLoadFailed as e:
                if "non-chunked gzip" in str(e) and self._one_member_from(start):
                    # The whole file (from `start`) is one gzip member: read it again as one stream. (The same
                    # warcio error for a per-record file means a record left bytes in its member: resync below.)
                    self.stats.count("warc_non_per_record_gzip")
                    yield from self._stream_responses(start, skip=seen)
                    return
                start = self._after_failure(e, it.offset, resyncing)
                resyncing = True
            except Exception as e:  # noqa: BLE001 - zlib, header parse, short reads: same recovery
                start = self._after_failure(e, it.offset, resyncing)
                resyncing = True

    def _after_failure(self, error: Exception, failed_at: int, resyncing: bool) -> int | None:
        if not resyncing:
            log.warning("%s: malformed record at offset %d: %s", self.url, failed_at, str(error).strip()[:200])
            self._drop(DropReason.MALFORMED_RECORD, type(error).__name__)
        if not self.f.seekable():
            self.stats.count("warc_unrecoverable")
            return None
        return self._find_next_start(failed_at + 1)

    def _one_member_from(self, pos: int) -> bool:
        """True when the gzip member at `pos` runs to the end of the file (or is cut off by it)."""
        self.f.seek(pos)
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while not member.eof:
                chunk = self.f.read(1 << 20)
                if not chunk:
                    return True
                member.decompress(chunk, 1 << 16)
                while member.unconsumed_tail and not member.eof:
                    member.decompress(member.unconsumed_tail, 1 << 16)
        except zlib.error:
            return False
        return not (member.unused_data or self.f.read(1))

    def _find_next_start(self, pos: int) -> int | None:
        """Offset of the next plausible record start at or after `pos`, scanning the raw file in blocks."""
        overlap = 64
        while True:
            self.f.seek(pos)
            block = self.f.read(_SCAN_BLOCK)
            if not block:
                return None
            if self.is_gzip:
                hit = block.find(_GZIP_MAGIC)
                if hit >= 0:
                    return pos + hit
            else:
                m = _PLAIN_RECORD_START.search(block)
                if m:
                    return pos + m.start(1 if m.group(1) else 2)
            if len(block) < _SCAN_BLOCK:
                return None
            pos += len(block) - overlap

    def _stream_responses(self, start: int, skip: int) -> Iterator[WarcResponse]:
        """A gzip file that is one member (not one per record): decompress it as a stream, skip what was read."""
        self.f.seek(start)
        stream = _GunzipStream(self.f)
        it = _LenientArchiveIterator(stream, arc2warc=True, check_digests=True)
        self.streaming = True
        try:
            for i, record in enumerate(it):
                if i < skip:
                    continue
                response = self._read_record(it, record)
                if response is not None:
                    yield response
            if stream.pos > it.offset:  # data after the last complete record: headers cut off by the end
                self._drop(DropReason.MALFORMED_RECORD, "truncated_at_end")
        except Exception as e:  # noqa: BLE001 - a damaged single-member stream cannot be resynchronised
            log.warning("%s: malformed gzip stream: %s", self.url, str(e).strip()[:200])
            self._drop(DropReason.MALFORMED_RECORD, type(e).__name__)

    def _read_record(self, it: ArchiveIterator, record) -> WarcResponse | None:
        rec_type = record.rec_type
        warc_type = record.rec_headers.get_header("Content-Type") or ""
        is_html_resource = rec_type == "resource" and warc_type.split(";")[0].strip().lower() in _HTML_TYPES
        if rec_type != "response" and not is_html_resource:
            self.stats.count(f"skipped_record_type:{rec_type}")
            return None
        if rec_type == "response" and record.http_headers is None:
            target = record.rec_headers.get_header("WARC-Target-URI") or ""
            if not target.lower().startswith(("http:", "https:")):
                self.stats.count("skipped_non_http_response")  # dns:, whois: … responses carry no HTTP message
                return None
            self._drop(DropReason.MALFORMED_RECORD, "no_http_message")  # e.g. an ARC length of -1 or 'abc'
            it.read_to_end()
            return None

        record_start = it.offset
        errors_before = it.err_count
        body, truncated, body_error = self._read_body(record)
        it.read_to_end()  # consumes the record separator, so a wrong Content-Length shows up now, not later
        # ARC lengths are unreliable (warcio itself miscounts when it escapes spaces in an ARC URL), so only the
        # separator check applies to them; a WARC record whose stream ended before its Content-Length is cut.
        problem = None
        if it.err_count > errors_before or (not self.is_arc and _cut_short(record)):
            problem = "wrong_length"
        elif any(p.startswith("block digest failed") for p in record.digest_checker.problems):
            problem = "block_digest_mismatch"  # payload digests are not checked: crawlers disagree on chunking
        if problem is not None:
            self._drop(DropReason.MALFORMED_RECORD, problem)
            if not self.streaming and self.f.seekable():
                # A bad length may have hidden the next records (plain file) or left bytes in the member (gzip)
                # that warcio would report again as another broken record: restart at the next record start.
                raise _Resync(record_start)
            return None
        if body_error is not None:
            self._drop(DropReason.DECODE_ERROR, body_error)
            return None

        self.stats.records_in += 1
        offset = it.get_record_offset()
        headers = record.rec_headers
        target = headers.get_header("WARC-Target-URI") or ""
        if target.startswith("<") and target.endswith(">"):  # old wget wrote <uri>
            target = target[1:-1]
        fetch_time = headers.get_header("WARC-Date") or ""
        http = record.http_headers
        http_headers = list(http.headers) if http is not None else []
        if http is not None:
            content_type = http.get_header("Content-Type") or ""
            status = http.get_statuscode()
            status = int(status) if status and status.isdigit() else None
        else:
            content_type, status = warc_type, None
        return WarcResponse(
            url=target,
            record_id=self._record_id(headers, target, fetch_time, offset),
            offset=offset,
            fetch_time=fetch_time,
            http_headers=http_headers,
            content_type=content_type,
            body=body,
            warc_path=self.url,
            http_status=status,
            truncated=truncated,
        )

    def _read_body(self, record) -> tuple[bytes, bool, str | None]:
        """Up to `cap` bytes of the decoded body; whether more followed; why it could not be read, if it could not."""
        encoding = record.http_headers.get_header("Content-Encoding") if record.http_headers else None
        if encoding and encoding.strip().lower() not in (*BufferedReader.get_supported_decompressors(), "identity"):
            return b"", False, f"unsupported_content_encoding:{encoding.strip().lower()}"
        stream = record.content_stream()
        chunks, size = [], 0
        try:
            while size <= self.cap:
                chunk = stream.read(min(1 << 16, self.cap + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except Exception as e:  # noqa: BLE001 - bad chunking or content-encoding; record framing is intact
            return b"", False, f"bad_body:{type(e).__name__}"
        body = b"".join(chunks)
        if size > self.cap:
            return body[: self.cap], True, None
        return body, False, None

    def _record_id(self, headers, target: str, fetch_time: str, offset: int) -> str:
        if not self.is_arc:
            return headers.get_header("WARC-Record-ID") or ""
        # warcio invents a random uuid for ARC records; an id must not change between runs.
        digest = hashlib.sha1(f"{target}\x00{fetch_time}\x00{offset}".encode("utf-8", "surrogatepass")).hexdigest()
        return f"<urn:sluice:arc:{digest[:32]}>"

    def _drop(self, reason: str, kind: str) -> None:
        self.stats.records_in += 1
        self.stats.drop(reason)
        self.stats.count(f"{reason}:{kind}")


def _cut_short(record) -> bool:
    """True when the file ended (or the gzip member ended) before the record's Content-Length was read."""
    remaining = getattr(record.raw_stream, "limit", 0)
    return isinstance(remaining, int) and remaining > 0
