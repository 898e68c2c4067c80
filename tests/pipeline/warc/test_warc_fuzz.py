"""The WARC reader under seeded random damage: no undamaged record lost, none changed, every damage counted.

336 files (16 seeds × every damage kind and position, see tests/pipeline/warc/warc_damage.py); the benchmark
benchmarks/warc_fuzz_bench.py runs thousands and compares with the reader before member-wise reading.
"""

import pytest

from pipeline.warc.reader import iter_responses
from tests.pipeline.warc.warc_damage import KINDS, judge, make, positions

SEEDS = range(16)


def _read(path, stats):
    return list(iter_responses(path, stats))


@pytest.mark.parametrize("kind", KINDS)
def test_no_undamaged_record_is_lost(tmp_path, kind):
    failures = []
    for position in positions(kind):
        for seed in SEEDS:
            damaged = make(seed, kind, position)
            path = tmp_path / f"{kind}-{position}-{seed}.warc.gz"
            path.write_bytes(damaged.data)
            verdict = judge(damaged, _read, str(path))
            if any(vars(verdict).values()):
                failures.append((position, seed, {k: v for k, v in vars(verdict).items() if v}))
    assert failures == [], f"{kind}: (position, seed, what went wrong)"


def test_the_damage_generator_is_deterministic():
    assert make(3, "flipped_byte", 2).data == make(3, "flipped_byte", 2).data
    assert make(3, "flipped_byte", 2).data != make(4, "flipped_byte", 2).data
