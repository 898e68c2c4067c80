"""WARC/ARC reading: the warcio sample files, and broken files built here, never raise and always add up."""

import gzip
import io
import re

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.stats import DropReason, Stats
from pipeline.warc.reader import expand_inputs, iter_responses
from tests.conftest import shared_data

# file → (responses yielded, malformed records counted). See ../shared/data/warc/README.md.
SAMPLES = {
    "example.warc": (1, 0),
    "example.warc.gz": (1, 0),
    "example-iana.org-chunked.warc": (1, 0),
    "example-resource.warc.gz": (1, 0),  # an HTML resource record without HTTP headers
    "post-test.warc.gz": (3, 0),
    "example.arc": (1, 0),
    "example.arc.gz": (1, 0),
    "example-digest.warc": (0, 0),  # request records only
    "example-space-in-url.arc": (1, 0),
    "example-space-in-target-uri.warc.gz": (0, 0),  # the resource is a PNG
    "example-wget-bad-target-uri.warc.gz": (1, 0),
    "bad.arc": (1, 2),  # two responses with lengths -1 / 'abc' and no HTTP message
    # malformed: whole-file gzip is read again as a stream, so its responses are not lost
    "example-bad-non-chunked.warc.gz": (1, 0),
    "example-bad.warc.gz.bad": (2, 0),
    "example-wrong-chunks.warc.gz": (0, 1),  # response cut at a member boundary; its body member is skipped
    "example-trunc.warc": (0, 1),  # Content-Length 2 bytes short
}


def read(path) -> tuple[list, Stats]:
    stats = Stats()
    return list(iter_responses(str(path), stats)), stats


def test_every_sample_file_is_listed():
    names = {p.name for p in shared_data("warc").iterdir() if p.name != "README.md"}
    assert names == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_files(name):
    responses, stats = read(shared_data("warc", name))
    expected_responses, expected_malformed = SAMPLES[name]
    assert len(responses) == expected_responses
    assert stats.dropped[DropReason.MALFORMED_RECORD] == expected_malformed
    assert stats.records_in == len(responses) + sum(stats.dropped.values())
    for r in responses:
        assert r.url.startswith("http") and r.record_id and r.fetch_time[:2] == "20"


def test_response_fields():
    (r,), stats = read(shared_data("warc", "example-iana.org-chunked.warc"))
    assert (r.url, r.offset, r.http_status) == ("http://www.iana.org/", 405, 200)
    assert r.content_type == "text/html; charset=UTF-8" and ("Content-Type", r.content_type) in r.http_headers
    assert r.body.lstrip().lower().startswith(b"<!doctype html") and r.body.rstrip().endswith(b"</html>")  # de-chunked
    assert r.fetch_time == "2017-03-06T16:54:09Z" and r.warc_path.endswith("chunked.warc")
    assert stats.counters["skipped_record_type:request"] == 1
    (gz,), _ = read(shared_data("warc", "example.warc.gz"))
    assert b"Example Domain" in gz.body  # gzip Content-Encoding decoded
    arc_ids = [read(shared_data("warc", "example.arc"))[0][0].record_id for _ in range(2)]
    assert arc_ids[0] == arc_ids[1], "warcio invents a random id for ARC records; ours must be stable"


def record(i: int, gz: bool = True, length_delta: int = 0) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    body = f"<html><body><p>page {i} {'x' * 300}</p></body></html>".encode()
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(f"http://example.com/{i}", "response", payload=io.BytesIO(body), http_headers=http,
                                  # fixed id and date: the compressed bytes (and so where a cut lands) are the same
                                  # in every run
                                  warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{i:012d}>",
                                                     "WARC-Date": "2024-01-01T00:00:00Z"})
    )
    raw = buf.getvalue()
    if length_delta:
        m = re.search(rb"Content-Length: (\d+)", raw)
        raw = raw[: m.start(1)] + str(int(m.group(1)) + length_delta).encode() + raw[m.end(1) :]
    return gzip.compress(raw, mtime=0) if gz else raw


def urls(responses) -> list[int]:
    return [int(r.url.rsplit("/", 1)[1]) for r in responses]


def five(gz: bool, broken: bytes) -> bytes:
    return b"".join(record(i, gz) for i in range(2)) + broken + b"".join(record(i, gz) for i in range(3, 5))


@pytest.mark.parametrize(
    "name, data, kept, malformed",
    [
        ("ok.warc.gz", five(True, record(2)), [0, 1, 2, 3, 4], 0),
        ("truncated-end.warc.gz", five(True, record(2))[:-40], [0, 1, 2, 3], 1),
        ("truncated-member.warc.gz", five(True, record(2)[:200]), [0, 1, 3, 4], 1),
        ("garbage-between.warc.gz", five(True, b"\x1f\x8b\x08garbage" * 20), [0, 1, 3, 4], 1),
        ("garbage-before.warc.gz", b"junk\x1f\x8b\x08junk" * 30 + five(True, record(2)), [0, 1, 2, 3, 4], 1),
        ("first-member-cut.warc.gz", record(0)[:150] + five(True, record(2))[len(record(0)):], [1, 2, 3, 4], 1),
        ("longer-length.warc.gz", five(True, record(2, length_delta=50)), [0, 1, 3, 4], 1),
        ("shorter-length.warc.gz", five(True, record(2, length_delta=-50)), [0, 1, 3, 4], 1),
        # leaves several lines of its body in its member: still counted once, and the next member is read
        ("much-shorter-length.warc.gz", five(True, record(2, length_delta=-300)), [0, 1, 3, 4], 1),
        ("longer-length.warc", five(False, record(2, False, length_delta=50)), [0, 1, 3, 4], 1),
        ("swallows-two.warc", five(False, record(2, False, length_delta=1500)), [0, 1, 3, 4], 1),
        ("shorter-length.warc", five(False, record(2, False, length_delta=-50)), [0, 1, 3, 4], 1),
        ("cut-record.warc", five(False, record(2, False)[:300]), [0, 1, 3, 4], 1),  # caught by its block digest
        ("truncated-end.warc", five(False, record(2, False))[:-100], [0, 1, 2, 3], 1),
        ("one-member.warc.gz", gzip.compress(five(False, record(2, False)), mtime=0), [0, 1, 2, 3, 4], 0),
        # the records before the cut decompress as they were (a deflate stream's prefix), so they are kept
        ("one-member-cut.warc.gz", gzip.compress(five(False, record(2, False)), mtime=0)[:-100], [0, 1, 2], 1),
        ("garbage.warc", b"\x00\x01garbage" * 100, [], 1),
        ("empty.warc", b"", [], 0),
    ],
)
def test_broken_files_are_counted_and_reading_goes_on(tmp_path, name, data, kept, malformed):
    path = tmp_path / name
    path.write_bytes(data)
    responses, stats = read(path)
    assert urls(responses) == kept
    assert stats.dropped[DropReason.MALFORMED_RECORD] == malformed
    assert stats.records_in == len(responses) + sum(stats.dropped.values())


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]


@pytest.mark.parametrize(
    "name, data, kept, kind",
    [
        # warcio raised zlib.error out of the reader here, failing the whole Spark task
        ("flipped-in-first-member", flip(record(0), 60) + b"".join(record(i) for i in range(1, 5)), [1, 2, 3, 4],
         "gzip_corrupt"),
        # the CRC is checked before a record is yielded: a flip in the body never comes out as a changed page
        ("flipped-crc", flip(record(0), len(record(0)) - 6) + b"".join(record(i) for i in range(1, 5)),
         [1, 2, 3, 4], "gzip_corrupt"),
        # a record cut by the end of the file is malformed, not a record of another type
        ("cut-in-headers", b"".join(record(i) for i in range(4)) + record(4)[:40], [0, 1, 2, 3], "truncated"),
        ("garbage-before", b"\x00junk" * 50 + b"".join(record(i) for i in range(5)), [0, 1, 2, 3, 4], "garbage"),
        ("garbage-after", b"".join(record(i) for i in range(5)) + b"\x00junk" * 50, [0, 1, 2, 3, 4], "garbage"),
    ],
)
def test_damage_is_counted_by_kind(tmp_path, name, data, kept, kind):
    path = tmp_path / f"{name}.warc.gz"
    path.write_bytes(data)
    responses, stats = read(path)
    assert urls(responses) == kept
    assert stats.dropped == {DropReason.MALFORMED_RECORD: 1} and stats.counters[f"malformed_record:{kind}"] == 1
    assert not any(k.startswith("skipped_record_type:response") for k in stats.counters)
    assert stats.records_in == len(responses) + 1


def test_offsets_are_member_starts_even_behind_garbage(tmp_path):
    junk = b"\x00junk" * 50
    members = [record(i) for i in range(3)]
    path = tmp_path / "a.warc.gz"
    path.write_bytes(junk + members[0] + junk + members[1] + members[2])
    responses, _ = read(path)
    starts = [len(junk), 2 * len(junk) + len(members[0]), 2 * len(junk) + len(members[0]) + len(members[1])]
    assert [r.offset for r in responses] == starts


def test_blank_padding_between_members_is_not_garbage(tmp_path):
    path = tmp_path / "a.warc.gz"
    path.write_bytes(record(0) + b"\r\n\x00" * 10 + record(1) + b"\n" * 5)
    responses, stats = read(path)
    assert urls(responses) == [0, 1] and not stats.dropped


def test_members_larger_than_the_lookahead_keep_their_offsets(tmp_path):
    """Records of 150 KB: their members end past the first 64 KB the reader decompresses to look at a member."""
    members = []
    for i in range(3):
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        body = f"<html><body><p>{i} ".encode() + b"".join(b"w%d " % (j * 7919 % 10007) for j in range(25_000))
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"http://example.com/{i}", "response",
                                                      payload=io.BytesIO(body), http_headers=http))
        members.append(buf.getvalue())
    path = tmp_path / "big-members.warc.gz"
    path.write_bytes(b"".join(members))
    responses, stats = read(path)
    assert urls(responses) == [0, 1, 2] and not stats.dropped
    assert [r.offset for r in responses] == [0, len(members[0]), len(members[0]) + len(members[1])]


def test_huge_member_is_streamed(tmp_path):
    """A 24 MB record (and a 24 MB one-member file) is read with memory near the body cap, not the member size."""
    import tracemalloc

    body = b"<html><body><p>" + b"word " * 4_800_000 + b"</p></body></html>"
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("http://example.com/0", "response", payload=io.BytesIO(body),
                                                  http_headers=http))
    path = tmp_path / "big.warc.gz"
    path.write_bytes(gzip.compress(buf.getvalue() + record(1, gz=False), mtime=0))
    del body, buf
    tracemalloc.start()
    stats = Stats()
    responses = [(r.url, r.truncated, len(r.body)) for r in iter_responses(str(path), stats, max_body_bytes=1 << 20)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert responses == [("http://example.com/0", True, 1 << 20), ("http://example.com/1", False, 340)]
    assert peak < 8 << 20, f"peak {peak >> 20} MiB"


def test_unseekable_stream_still_recovers():
    from pipeline.warc.gzip_members import GzipMemberReader

    class Unseekable(io.RawIOBase):
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, b):
            return self.data.readinto(b)

    data = b"".join(record(i) for i in range(2)) + b"\x00junk" * 50 + b"".join(record(i) for i in range(2, 5))
    stats = Stats()
    responses = list(GzipMemberReader(Unseekable(data), "s", stats, 1 << 20).responses())
    assert urls(responses) == [0, 1, 2, 3, 4] and stats.dropped[DropReason.MALFORMED_RECORD] == 1


class Trickle(io.RawIOBase):
    """A stream that returns at most a few bytes per read, as sockets and some remote files do."""

    def __init__(self, data: bytes, step: int = 7):
        self.data, self.step = io.BytesIO(data), step

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        return self.data.seek(pos, whence)

    def tell(self):
        return self.data.tell()

    def readinto(self, b):
        return self.data.readinto(memoryview(b)[: self.step])


@pytest.mark.parametrize("step", [1, 2, 7, 4096])
def test_short_reads_never_look_like_damage(step):
    """A member start after pushback shorter than the gzip magic, or behind a short read, is still a member."""
    from pipeline.warc.gzip_members import GzipMemberReader

    data = b"".join(record(i) for i in range(5))
    stats = Stats()
    responses = list(GzipMemberReader(Trickle(data, step), "s", stats, 1 << 20).responses())
    assert urls(responses) == [0, 1, 2, 3, 4] and not stats.dropped


def test_cursor_fills_a_read_from_pushback_and_file():
    from pipeline.warc.gzip_members import _Cursor

    cursor = _Cursor(io.BytesIO(b"\x8b\x08rest"))
    cursor.unread(b"\x1f")
    assert cursor.read(3) == b"\x1f\x8b\x08" and cursor.pos == 2 and cursor.read(100) == b"rest"


def test_body_cap_marks_truncated(tmp_path):
    path = tmp_path / "a.warc.gz"
    path.write_bytes(record(0))
    stats = Stats()
    (r,) = iter_responses(str(path), stats, max_body_bytes=100)
    assert r.truncated and len(r.body) == 100


def test_missing_file_is_a_failed_input(tmp_path):
    responses, stats = read(tmp_path / "nope.warc.gz")
    assert responses == [] and stats.failed_inputs == [str(tmp_path / "nope.warc.gz")]
    assert stats.dropped[DropReason.MISSING_INPUT] == 1 and stats.balanced()


def test_expand_inputs(tmp_path):
    for n in ("b.warc.gz", "a.warc.gz", "c.txt"):
        (tmp_path / n).write_bytes(b"")
    got = expand_inputs([f"{tmp_path}/*.warc.gz", str(tmp_path / "a.warc.gz")])
    assert got == [str(tmp_path / "a.warc.gz"), str(tmp_path / "b.warc.gz")]
    assert expand_inputs([f"file://{tmp_path}/a.*"]) == [f"file://{tmp_path}/a.warc.gz"]
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        expand_inputs([f"{tmp_path}/*.warc.gz", f"{tmp_path}/nothing-here*"])
