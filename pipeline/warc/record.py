"""One parsed WARC/ARC record → a WarcResponse, with the checks that decide whether the record came out whole.

Shared by the two file readers (warc/reader.py for uncompressed files, warc/gzip_members.py for gzip members):
what a document is (an HTTP response or an HTML resource record), how its body is read under a size cap, and how a
record with a wrong length or a failed block digest is counted before the reader resynchronises.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator

from pipeline.stats import DropReason, Stats
from pipeline.warc.body import UnsupportedEncoding, read_body

# Media types HTML is served and stored under (text/html, and XHTML as RFC 3236 registers it): the reader keeps
# resource records of these types, the extractor keeps responses of these types.
HTML_TYPES = ("text/html", "application/xhtml+xml")


class StreamDamaged(Exception):
    """The bytes under the record parser are damaged (a gzip member that is corrupt or cut off by the end of file).

    Not an OSError/ValueError/EOFError: warcio and the body reader catch those and would take the damage for a
    clean end of record.
    """

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class RecordDamaged(Exception):
    """A record parsed but was not whole (wrong length, block digest mismatch); it has been counted already."""

    def __init__(self, record_start: int):
        super().__init__(record_start)
        self.record_start = record_start


class LenientArchiveIterator(ArchiveIterator):
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
    offset: int  # start of the record in the file (see warc/reader.py for a gzip member holding several records)
    fetch_time: str  # WARC-Date, ISO 8601
    http_headers: list[tuple[str, str]]
    content_type: str  # HTTP Content-Type, or the WARC Content-Type of a resource record
    body: bytes
    warc_path: str
    http_status: int | None = None
    truncated: bool = False  # the body was longer than the reader's cap; `body` holds its first bytes only


class RecordReader:
    """Turns records into responses and counts every record that is not one; subclasses walk the file."""

    def __init__(self, url: str, stats: Stats, max_body_bytes: int):
        self.url, self.stats, self.cap = url, stats, max_body_bytes
        self.is_arc = False

    def read_record(self, it: ArchiveIterator, record) -> WarcResponse | None:
        """The response in `record`, or None for a record that is not a document (counted); RecordDamaged if cut."""
        rec_type = record.rec_type
        warc_type = record.rec_headers.get_header("Content-Type") or ""
        is_html_resource = rec_type == "resource" and warc_type.split(";")[0].strip().lower() in HTML_TYPES
        if rec_type != "response" and not is_html_resource:
            self.stats.count(f"skipped_record_type:{rec_type}")
            return None
        if rec_type == "response" and record.http_headers is None:
            target = record.rec_headers.get_header("WARC-Target-URI") or ""
            if not target.lower().startswith(("http:", "https:")):
                self.stats.count("skipped_non_http_response")  # dns:, whois: … responses carry no HTTP message
                return None
            self.drop(DropReason.MALFORMED_RECORD, "no_http_message")  # e.g. an ARC length of -1 or 'abc'
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
            self.drop(DropReason.MALFORMED_RECORD, problem)
            raise RecordDamaged(record_start)
        if body_error is not None:
            self.drop(DropReason.DECODE_ERROR, body_error)
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
        """Up to `cap` bytes of the decoded body; whether more followed; why it could not be read, if it could not.

        Decoded by pipeline/warc/body.py, not warcio's content_stream(): that inflates a whole transfer chunk at once,
        so a small chunked gzip bomb grew a worker by GBs before any cap applied."""
        http = record.http_headers
        if http is None:
            chunked, encoding = False, None
        else:
            transfer = (http.get_header("Transfer-Encoding") or "").lower()
            chunked = transfer.rsplit(",", 1)[-1].strip() == "chunked"
            encoding = http.get_header("Content-Encoding")
        try:
            body, truncated, not_applied = read_body(record.raw_stream, chunked, encoding, self.cap)
        except StreamDamaged:
            raise  # the file is damaged here, not the body's encoding: the file reader recovers
        except UnsupportedEncoding as e:
            return b"", False, f"unsupported_content_encoding:{e}"
        except Exception as e:  # noqa: BLE001 - bad chunking or content-encoding; record framing is intact
            return b"", False, f"bad_body:{type(e).__name__}"
        for coding in not_applied:
            self.stats.count(f"content_encoding_not_applied:{coding}")
        return body, truncated, None

    def _record_id(self, headers, target: str, fetch_time: str, offset: int) -> str:
        if not self.is_arc:
            return headers.get_header("WARC-Record-ID") or ""
        # warcio invents a random uuid for ARC records; an id must not change between runs.
        digest = hashlib.sha1(f"{target}\x00{fetch_time}\x00{offset}".encode("utf-8", "surrogatepass")).hexdigest()
        return f"<urn:sluice:arc:{digest[:32]}>"

    def drop(self, reason: str, kind: str) -> None:
        self.stats.records_in += 1
        self.stats.drop(reason)
        self.stats.count(f"{reason}:{kind}")


def _cut_short(record) -> bool:
    """True when the file ended (or the gzip member ended) before the record's Content-Length was read."""
    remaining = getattr(record.raw_stream, "limit", 0)
    return isinstance(remaining, int) and remaining > 0
