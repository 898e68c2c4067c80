"""An HTTP body out of a WARC record, de-chunked and decoded as a stream, never inflated past its cap.

warcio's content_stream() reads a whole transfer chunk and inflates it whole before any caller can stop it: a chunk
of 4 MB of gzip inside a 5 KB WARC member inflates to GBs in one call. Here every layer is a pull reader that hands
out at most the bytes it is asked for (zlib's and brotli's output limits), so reading a body up to `cap` never holds
more than the cap plus one block, whatever the body claims to be. Layers, innermost first: the record's raw block
(warcio's stream, which also checks the block digest), chunked transfer decoding, then each Content-Encoding in
reverse order of listing.

What crawlers store is not always what the headers say, so the readers are lenient the way warcio is: a body sent
`Transfer-Encoding: chunked` that does not start with a chunk size is read as it is, and a body whose first block
does not decode under its Content-Encoding is taken as not encoded (counted). Damage after decoding has begun is an
error (the caller counts a `decode_error`).
"""

from __future__ import annotations

import re
import zlib

BLOCK = 1 << 16
_CHUNK_SIZE = re.compile(rb"([0-9a-fA-F]+)[ \t]*(?:;[^\r\n]*)?\r?\n")
ENCODINGS = ("gzip", "x-gzip", "deflate", "br")
_FIRST_LIMIT = 1 << 20  # raw bytes a coded body may take to give its first output byte


class BodyDecodeError(Exception):
    """The body's transfer or content coding broke after decoding had begun."""


class _Dechunked:
    """HTTP/1.1 chunked transfer coding removed, a piece at a time (a chunk is never read whole)."""

    def __init__(self, raw):
        self.raw = raw
        self.left = 0  # bytes of the current chunk not yet handed out
        self.done = False
        self.as_is = False  # not chunked after all: the rest of the stream is the body
        self.pending = b""

    def read(self, size: int) -> bytes:
        if self.pending:
            out, self.pending = self.pending[:size], self.pending[size:]
            return out
        if self.as_is:
            return self.raw.read(size)
        while not self.done:
            if self.left:
                data = self.raw.read(min(size, self.left))
                if not data:  # the record ends inside a chunk: the body is cut there (as warcio reads it)
                    self.done = True
                    return b""
                self.left -= len(data)
                if not self.left:
                    end = self.raw.read(2)
                    if end not in (b"\r\n", b""):  # no terminator: the size was wrong; keep the rest as it is
                        self.as_is, self.pending = True, end
                return data
            line = self.raw.readline(64)
            m = _CHUNK_SIZE.fullmatch(line)
            if m is None:
                if not line.strip():
                    self.done = not line
                    continue
                self.as_is = True  # served with Transfer-Encoding: chunked but not chunked: keep the bytes
                self.pending = line[size:]
                return line[:size]
            self.left = int(m.group(1), 16)
            if not self.left:
                self.done = True  # the last chunk; trailers are left to the record's end
        return b""


class _Decoded:
    """A content coding undone `size` bytes at most per read; `_decode(data, size)` is the coding's step.

    Until the first output the raw input is kept (up to _FIRST_LIMIT): a body that does not decode under its
    Content-Encoding from the start is taken as not encoded, as warcio does (crawlers store decoded bodies under the
    original headers)."""

    def __init__(self, src):
        self.src = src
        self.started = False
        self.first = b""
        self.as_is = False

    def read(self, size: int) -> bytes:
        if self.as_is:
            out, self.first = self.first[:size], self.first[size:]
            return out or self.src.read(size)
        while not self._finished():
            data, fresh = self._next_input()
            if fresh and not self.started:
                self.first += data
                if len(self.first) > _FIRST_LIMIT:
                    raise BodyDecodeError(f"no output after {_FIRST_LIMIT} bytes")
            try:
                out = self._decode(data, size)
            except self.errors as e:
                if self.started:
                    raise BodyDecodeError(f"{type(e).__name__}: {e}") from None
                return self._fallback(size)
            if out:
                self.started, self.first = True, b""
                return out
            if not data:
                return b""  # the body ends before the coded stream does: it was cut, what came out stands
        return b""

    def _fallback(self, size: int) -> bytes:
        self.as_is = True
        return self.read(size)


class _Inflated(_Decoded):
    """gzip, or deflate (zlib-wrapped, else raw: servers send both), via zlib's max_length."""

    errors = (zlib.error,)

    def __init__(self, src, encoding: str):
        super().__init__(src)
        self.wbits = [16 + zlib.MAX_WBITS] if encoding in ("gzip", "x-gzip") else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
        self.decomp = zlib.decompressobj(self.wbits[0])

    def _finished(self) -> bool:
        return self.decomp.eof

    def _next_input(self) -> tuple[bytes, bool]:
        if self.decomp.unconsumed_tail:
            return self.decomp.unconsumed_tail, False  # input held back by the last max_length
        return self.src.read(BLOCK), True

    def _decode(self, data: bytes, size: int) -> bytes:
        return self.decomp.decompress(data, size)

    def _fallback(self, size: int) -> bytes:
        self.wbits.pop(0)
        while self.wbits:  # deflate: zlib-wrapped failed, try raw deflate on the same bytes
            self.decomp = zlib.decompressobj(self.wbits[0])
            try:
                out = self.decomp.decompress(self.first, size)
            except zlib.error:
                self.wbits.pop(0)
                continue
            if out:
                self.started, self.first = True, b""
                return out
            return self.read(size)
        return super()._fallback(size)


class _Unbrotli(_Decoded):
    """brotli (RFC 7932) via the brotli package's output_buffer_limit."""

    def __init__(self, src):
        import brotli

        super().__init__(src)
        self.errors = (brotli.error,)
        self.decomp = brotli.Decompressor()

    def _finished(self) -> bool:
        return self.decomp.is_finished()

    def _next_input(self) -> tuple[bytes, bool]:
        if not self.decomp.can_accept_more_data():
            return b"", False  # output is still waiting behind the last limit: ask for it with no new input
        return self.src.read(BLOCK), True

    def _decode(self, data: bytes, size: int) -> bytes:
        return self.decomp.process(data, output_buffer_limit=size)


class UnsupportedEncoding(Exception):
    """A Content-Encoding this reader cannot undo; the message is the coding."""


def read_body(raw, chunked: bool, content_encoding: str | None, cap: int) -> tuple[bytes, bool, list[str]]:
    """Up to `cap` bytes of the body behind the raw record block `raw`, whether more followed, and the codings that
    were listed but found not applied. Holds at most `cap` plus one block: nothing past the cap is decoded.

    UnsupportedEncoding for a coding not in ENCODINGS; BodyDecodeError for a coding that breaks midway."""
    codings = [c for c in (p.strip().lower() for p in (content_encoding or "").split(",")) if c and c != "identity"]
    for coding in codings:
        if coding not in ENCODINGS:
            raise UnsupportedEncoding(coding)
    stream = _Dechunked(raw) if chunked else raw
    layers = []
    for coding in reversed(codings):  # listed in the order applied: undone last first
        stream = _Unbrotli(stream) if coding == "br" else _Inflated(stream, coding)
        layers.append((coding, stream))
    pieces, size = [], 0
    while size <= cap:
        piece = stream.read(min(BLOCK, cap + 1 - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    body = b"".join(pieces)
    not_applied = [coding for coding, layer in layers if layer.as_is]
    return body[:cap], size > cap, not_applied
