"""Damaged WARC files with a known answer, for the reader's fuzz test (tests/pipeline/warc/test_warc_fuzz.py) and
benchmarks/warc_fuzz_bench.py: sample data with its answer key, like demo/crawl.py's clean crawl.

A file is 5 well-formed response records, one gzip member each (seeded random record ids, dates and bodies), or the
same 5 records uncompressed (`plain=True`), with exactly one damage: a member (record) cut short, random garbage
between members (or before the first / after the last), one flipped byte inside a member, or the file truncated
inside a member. `judge` says what a reader did with it: whether it lost an undamaged record, yielded one record's
body under another's headers, let the damaged one through changed, or let it vanish uncounted.

In a plain file nothing covers the WARC header lines (a gzip member has its CRC, the block only its digest), so a flip
there can change the damaged record's id or URL, or its type, undetectably: for plain files `judge` tolerates the
damaged record coming out with its own body under changed headers, or being skipped uncounted (`header_changed`).
"""

from __future__ import annotations

import gzip
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.stats import DropReason, Stats

N_RECORDS = 5
KINDS = ("cut_member", "garbage_between", "flipped_byte", "truncated_file")
_WORDS = "the a river stone light north market window paper garden seven quiet morning letter road".split()


def positions(kind: str) -> range:
    """Members 0..4 for damage inside a member; gaps 0..5 for garbage (0: before the first member, 5: after)."""
    return range(N_RECORDS + 1) if kind == "garbage_between" else range(N_RECORDS)


@dataclass(frozen=True)
class Original:
    url: str
    record_id: str
    fetch_time: str
    body: bytes


@dataclass(frozen=True)
class DamagedFile:
    kind: str
    position: int
    data: bytes
    records: list[Original]
    offsets: dict[str, int]  # url → where its member starts in the damaged file, for every record still whole
    damaged: str | None  # url of the damaged record (None when the damage hit no record)
    plain: bool = False  # uncompressed records, not gzip members


def _response(rng: random.Random, i: int, plain: bool) -> tuple[Original, bytes]:
    url = f"http://site{rng.randrange(1000)}.example/{i}/{rng.randrange(10**6)}"
    record_id = f"<urn:uuid:{rng.getrandbits(128):032x}>"
    date = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(5 * 365 * 86400))
    fetch_time = date.strftime("%Y-%m-%dT%H:%M:%SZ")
    n_words = rng.randrange(20, 2000) if rng.random() < 0.8 else rng.randrange(20_000, 40_000)  # some over 64 KB
    words = " ".join(rng.choice(_WORDS) for _ in range(n_words))
    body = f"<html><body><p>{i} {words}</p></body></html>".encode()
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), http_headers=http,
        warc_headers_dict={"WARC-Record-ID": record_id, "WARC-Date": fetch_time}))
    level = rng.choice((1, 6, 9))  # drawn for plain files too: the same seed gives the same records
    member = buf.getvalue() if plain else gzip.compress(buf.getvalue(), compresslevel=level, mtime=0)
    return Original(url, record_id, fetch_time, body), member


def _garbage(rng: random.Random) -> bytes:
    junk = bytearray(rng.randbytes(rng.randrange(1, 2000)))
    for _ in range(rng.randrange(3)):  # a fake member start now and then, so a resync must not trust the magic
        at = rng.randrange(len(junk) + 1)
        junk[at:at] = b"\x1f\x8b\x08"
    return bytes(junk)


def make(seed: int, kind: str, position: int, plain: bool = False) -> DamagedFile:
    """One damaged file; the same (seed, kind, position, plain) always gives the same bytes."""
    rng = random.Random(f"{seed}:{kind}:{position}")
    pairs = [_response(rng, i, plain) for i in range(N_RECORDS)]
    records = [p[0] for p in pairs]
    members = [p[1] for p in pairs]
    damaged = None
    if kind == "garbage_between":
        members.insert(position, _garbage(rng))
        whole = [i for i in range(N_RECORDS)]
    elif kind == "cut_member":
        members[position] = members[position][: rng.randrange(1, len(members[position]))]
        whole, damaged = [i for i in range(N_RECORDS) if i != position], position
    elif kind == "flipped_byte":
        m = bytearray(members[position])
        m[rng.randrange(len(m))] ^= rng.randrange(1, 256)
        members[position] = bytes(m)
        whole, damaged = [i for i in range(N_RECORDS) if i != position], position
    elif kind == "truncated_file":
        members[position] = members[position][: rng.randrange(1, len(members[position]))]
        members = members[: position + 1]
        whole, damaged = list(range(position)), position
    else:
        raise ValueError(f"unknown damage kind {kind!r}")
    starts, at = [], 0
    for m in members:
        starts.append(at)
        at += len(m)
    if kind == "garbage_between":
        starts.pop(position)
    offsets = {records[i].url: starts[i] for i in whole}
    return DamagedFile(kind, position, b"".join(members), records,
                       offsets, records[damaged].url if damaged is not None else None, plain)


@dataclass
class Verdict:
    raised: bool = False  # an exception escaped the reader (the Spark task, and so the job, fails)
    lost_undamaged: bool = False  # a record not touched by the damage did not come out
    changed: bool = False  # a record came out with different content, or at a wrong offset
    mixed: bool = False  # a record's body came out under another record's id or URL
    uncounted: bool = False  # the damaged record neither came out nor was counted malformed_record
    unbalanced: bool = False  # records_in != records_out + drops
    header_changed: bool = False  # not a failure: a plain file's damaged record out under its flipped headers


FAILURES = ("raised", "lost_undamaged", "changed", "mixed", "uncounted", "unbalanced")


def judge(damaged: DamagedFile, read: Callable[[str, Stats], list], path: str) -> Verdict:
    """Run `read(path, stats)` (a reader returning responses with url/record_id/fetch_time/body/offset)."""
    stats, verdict = Stats(), Verdict()
    try:
        responses = read(path, stats)
    except Exception:  # noqa: BLE001 - an escaping exception is the finding, whatever it is
        verdict.raised = verdict.lost_undamaged = True
        return verdict
    by_url = {r.url: r for r in damaged.records}
    by_id = {r.record_id: r for r in damaged.records}
    by_body = {r.body: r for r in damaged.records}
    damaged_original = by_url.get(damaged.damaged)
    header_flip_possible = damaged.plain and damaged.kind == "flipped_byte"
    seen = set()
    for r in responses:
        named = by_url.get(r.url) or by_id.get(r.record_id)
        owner = by_body.get(r.body)
        if named is not None and owner is not None and owner is not named:
            verdict.mixed = True
        if named is None or (r.record_id, r.fetch_time, r.body) != (
            named.record_id, named.fetch_time, named.body
        ) or (r.url in damaged.offsets and r.offset != damaged.offsets[r.url]):
            if header_flip_possible and owner is not None and owner is damaged_original:
                verdict.header_changed = True
            else:
                verdict.changed = True
        seen.add(r.url)
    verdict.lost_undamaged = any(url not in seen for url in damaged.offsets)
    if damaged.damaged is not None and damaged.damaged not in seen:
        verdict.uncounted = stats.dropped[DropReason.MALFORMED_RECORD] == 0
        if verdict.uncounted and header_flip_possible:
            verdict.uncounted, verdict.header_changed = False, True  # e.g. WARC-Type flipped: skipped as a type
    stats.records_out = len(responses)
    verdict.unbalanced = not stats.balanced()
    return verdict
