"""HTTP bodies in WARC records: chunked and content-encoded bodies decoded as streams, never inflated past the cap."""

import gzip
import io
import tracemalloc
import zlib

import brotli
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.stats import DropReason, Stats
from pipeline.warc.body import BodyDecodeError, UnsupportedEncoding, read_body
from pipeline.warc.reader import iter_responses

PAGE = b"<html><body>" + b"".join(b"<p>paragraph %d of a page</p>" % i for i in range(3000)) + b"</body></html>"


def chunked(data: bytes, sizes=(7, 100, 5000)) -> bytes:
    out, at = [], 0
    for size in (*sizes, len(data)):
        piece = data[at : at + size]
        if piece:
            out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        at += len(piece)
    return b"".join(out) + b"0\r\n\r\n"


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


CODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda d: brotli.compress(d, quality=5),
    "identity": lambda d: d,
}


class Trickle(io.RawIOBase):
    """At most a few bytes per read, as a socket gives them."""

    def __init__(self, data: bytes, step: int = 5):
        self.data, self.step = io.BytesIO(data), step

    def readable(self):
        return True

    def readinto(self, b):
        return self.data.readinto(memoryview(b)[: self.step])

    def readline(self, size=-1):
        return self.data.readline(size)


@pytest.mark.parametrize("coding", sorted(CODINGS))
@pytest.mark.parametrize("is_chunked", [False, True])
def test_every_coding_decodes_whole(coding, is_chunked):
    data = CODINGS[coding](PAGE)
    raw = chunked(data) if is_chunked else data
    assert read_body(io.BytesIO(raw), is_chunked, coding, 1 << 20) == (PAGE, False, [])
    assert read_body(Trickle(raw), is_chunked, coding, 1 << 20) == (PAGE, False, [])


def test_raw_deflate_and_codings_applied_in_turn():
    assert read_body(io.BytesIO(raw_deflate(PAGE)), False, "deflate", 1 << 20)[0] == PAGE
    both = brotli.compress(gzip.compress(PAGE), quality=5)
    assert read_body(io.BytesIO(both), False, "gzip, br", 1 << 20)[0] == PAGE


def test_cap_cuts_and_says_so():
    body, truncated, _ = read_body(io.BytesIO(brotli.compress(PAGE, quality=5)), False, "br", 1000)
    assert (body, truncated) == (PAGE[:1000], True)


def test_lenient_where_crawlers_are_sloppy():
    # headers say gzip, body is plain: taken as it is and reported
    assert read_body(io.BytesIO(PAGE), False, "gzip", 1 << 20) == (PAGE, False, ["gzip"])
    assert read_body(io.BytesIO(PAGE), False, "br", 1 << 20) == (PAGE, False, ["br"])
    # Transfer-Encoding: chunked on a body that is not chunked
    assert read_body(io.BytesIO(PAGE), True, None, 1 << 20)[0] == PAGE
    # a body cut inside its gzip stream (crawlers cap what they store): what decoded stands
    body, truncated, _ = read_body(io.BytesIO(gzip.compress(PAGE)[:2000]), False, "gzip", 1 << 20)
    assert PAGE.startswith(body) and len(body) > 1000 and not truncated


def test_coding_broken_midway_and_unknown_codings_raise():
    data = bytearray(gzip.compress(PAGE))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(BodyDecodeError):
        read_body(io.BytesIO(bytes(data)), False, "gzip", 1 << 20)
    with pytest.raises(UnsupportedEncoding, match="zstd"):
        read_body(io.BytesIO(PAGE), False, "zstd", 1 << 20)


def inflating_to(gib: int) -> bytes:
    """A gzip stream of `gib` GiB of zeros in about `gib` MB: identical 1 MiB deflate blocks (no trailer: unread)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    mib = b"\0" * (1 << 20)
    first = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    repeat = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)  # a full flush resets the window: identical blocks
    return first + repeat * ((gib << 10) - 1)


def warc_gz(payload: bytes, headers: list[tuple[str, str]], url: str = "http://bomb.example/") -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), *headers], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http))
    return buf.getvalue()


@pytest.mark.parametrize("transfer", ["chunked", "plain"])
def test_a_decompression_bomb_stays_within_the_cap(tmp_path, transfer):
    """A 10 KB .warc.gz whose body inflates to 4 GiB: read with memory near the 1 MiB cap (warcio's content_stream
    inflated the chunk whole: 4.5 GB in a Spark worker), and the record after it is still read."""
    bomb = inflating_to(4)
    payload = chunked(bomb, ()) if transfer == "chunked" else bomb
    headers = [("Content-Encoding", "gzip")] + ([("Transfer-Encoding", "chunked")] if transfer == "chunked" else [])
    path = tmp_path / "bomb.warc.gz"
    path.write_bytes(warc_gz(payload, headers) + warc_gz(PAGE, [], "http://after.example/"))
    assert path.stat().st_size < 20_000
    del bomb, payload
    stats = Stats()
    tracemalloc.start()
    responses = [(r.url, r.truncated, len(r.body)) for r in iter_responses(str(path), stats, max_body_bytes=1 << 20)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert responses == [("http://bomb.example/", True, 1 << 20), ("http://after.example/", False, len(PAGE))]
    assert peak < 24 << 20, f"peak {peak >> 20} MiB"


def test_brotli_pages_in_a_warc_are_read(tmp_path):
    path = tmp_path / "br.warc.gz"
    path.write_bytes(warc_gz(brotli.compress(PAGE, quality=5), [("Content-Encoding", "br")])
                     + warc_gz(chunked(brotli.compress(PAGE, quality=5)), [("Content-Encoding", "br"),
                                                                 ("Transfer-Encoding", "chunked")], "http://two/"))
    stats = Stats()
    assert [r.body for r in iter_responses(str(path), stats)] == [PAGE, PAGE]
    assert not stats.dropped


def test_bad_bodies_are_counted_decode_errors(tmp_path):
    broken = bytearray(gzip.compress(PAGE))
    broken[len(broken) // 2] ^= 0xFF
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(warc_gz(bytes(broken), [("Content-Encoding", "gzip")])
                     + warc_gz(PAGE, [("Content-Encoding", "compress")], "http://two/")
                     + warc_gz(PAGE, [("Content-Encoding", "gzip")], "http://three/"))
    stats = Stats()
    assert [r.url for r in iter_responses(str(path), stats)] == ["http://three/"]
    assert stats.dropped == {DropReason.DECODE_ERROR: 2}
    assert stats.counters["decode_error:bad_body:BodyDecodeError"] == 1
    assert stats.counters["decode_error:unsupported_content_encoding:compress"] == 1
    assert stats.counters["content_encoding_not_applied:gzip"] == 1
