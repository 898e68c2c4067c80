"""The WARC reader under seeded random damage: no undamaged record lost, changed or mixed up; every damage counted.

336 .warc.gz files and 336 .warc files (16 seeds × every damage kind and position, see
demo/warc_damage.py); the benchmark benchmarks/warc_fuzz_bench.py runs thousands and compares with
the reader before member-wise (gzip) or frame-checked (plain) reading.
"""

import pytest

from demo.warc_damage import FAILURES, KINDS, judge, make, positions
from pipeline.warc.reader import iter_responses

SEEDS = range(16)


def _read(path, stats):
    return list(iter_responses(path, stats))


@pytest.mark.parametrize("plain", [False, True], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_undamaged_record_is_lost(tmp_path, kind, plain):
    failures = []
    for position in positions(kind):
        for seed in SEEDS:
            damaged = make(seed, kind, position, plain)
            path = tmp_path / f"{kind}-{position}-{seed}.{'warc' if plain else 'warc.gz'}"
            path.write_bytes(damaged.data)
            verdict = judge(damaged, _read, str(path))
            if any(getattr(verdict, f) for f in FAILURES):
                failures.append((position, seed, {f: True for f in FAILURES if getattr(verdict, f)}))
    assert failures == [], f"{kind}: (position, seed, what went wrong)"


def test_the_damage_generator_is_deterministic():
    assert make(3, "flipped_byte", 2).data == make(3, "flipped_byte", 2).data
    assert make(3, "flipped_byte", 2).data != make(4, "flipped_byte", 2).data
    assert make(3, "cut_member", 2).records == make(3, "cut_member", 2, plain=True).records
