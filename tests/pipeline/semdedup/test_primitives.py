"""The pure parts of semantic dedup: blocked cosine pairs, chunk tasks, components, keeper rule, float16 rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.config import ConfigError
from pipeline.dedup.oracle import reference_components
from pipeline.semdedup.primitives import (
    SemDedupConfig,
    assign_clusters,
    chunk_count,
    chunk_tasks,
    cosine_pairs,
    from_float16_rows,
    keepers,
    normalize_rows,
    round_centers,
    to_float16_rows,
)


def _vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, dim))
    base[1::3] = base[0::3][: len(base[1::3])] + 0.05 * rng.normal(size=(len(base[1::3]), dim))  # near copies
    return normalize_rows(base)


def _brute(a, b, threshold):
    if b is None:
        return {(i, j) for i, j in itertools.combinations(range(len(a)), 2) if a[i] @ a[j] >= threshold}
    return {(i, j) for i in range(len(a)) for j in range(len(b)) if a[i] @ b[j] >= threshold}


@pytest.mark.parametrize("block_rows", [1, 3, 7, 1000])
def test_cosine_pairs_equal_brute_force_for_any_block_size(block_rows):
    v = _vectors(40)
    got = cosine_pairs(v, None, 0.95, block_rows)
    assert {tuple(p) for p in got.tolist()} == _brute(v, None, 0.95)
    assert len(got) > 5  # the planted near copies are there
    w = _vectors(25, seed=1)
    assert {tuple(p) for p in cosine_pairs(v, w, 0.3, block_rows).tolist()} == _brute(v, w, 0.3)


def test_cosine_pairs_sorted_and_empty():
    got = cosine_pairs(_vectors(30), None, 0.9, 4)
    assert got.tolist() == sorted(got.tolist())
    assert cosine_pairs(np.zeros((0, 4), np.float32), None, 0.9).shape == (0, 2)
    zero = np.zeros((3, 4), np.float32)  # documents without words match nothing, not even each other
    assert cosine_pairs(zero, None, 0.5).shape == (0, 2)


@pytest.mark.parametrize("n_chunks", [1, 2, 5])
def test_chunk_tasks_put_every_pair_of_chunks_in_exactly_one_task(n_chunks):
    tasks: dict[tuple[int, int], set[int]] = {}
    for c in range(n_chunks):
        for task in chunk_tasks(c, n_chunks):
            tasks.setdefault(task, set()).add(c)
    assert set(tasks) == {(a, b) for a in range(n_chunks) for b in range(a, n_chunks)}
    assert all(members == {a, b} for (a, b), members in tasks.items())


def test_chunk_count_bounds_every_task():
    assert chunk_count(100, 100) == 1
    for size, bound in [(101, 100), (1000, 100), (999, 10)]:
        m = chunk_count(size, bound)
        chunk = bound // 2
        assert m * chunk >= size and 2 * chunk <= bound


def test_components_and_keeper_rule():
    labels = reference_components(["a", "b", "c", "d", "e"], [("b", "c"), ("c", "a"), ("d", "e")])
    assert labels == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "d"}
    kept = keepers(labels, {"a": 0.2, "b": 0.9, "c": 0.9, "d": 0.5, "e": 0.5})
    assert kept == {"a": "b", "d": "d"}  # highest quality; ties to the smallest id


def test_float16_rows_round_trip_to_unit_vectors():
    v = _vectors(10, dim=32)
    rows = to_float16_rows(v * 7.0)
    assert all(len(r) == 64 for r in rows)  # 2 bytes a dimension on disk
    back = from_float16_rows(rows)
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-6)
    assert np.abs(back - v).max() < 2e-3
    assert from_float16_rows(rows).tobytes() == back.tobytes()  # the same bytes every time


def test_assign_clusters_and_rounded_centers():
    centers = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert assign_clusters(normalize_rows(np.array([[2.0, 1.0], [0.1, 3.0]])), centers).tolist() == [0, 1]
    noisy = centers + 1e-12  # k-means' summation order moves the last bits; rounding takes that out
    assert round_centers(noisy).tobytes() == round_centers(centers).tobytes()


def test_config_checks_and_k_from_corpus_size():
    assert SemDedupConfig(docs_per_cluster=100).clusters_for(1050) == 11
    assert SemDedupConfig(k=50).clusters_for(10) == 10
    assert SemDedupConfig().clusters_for(0) == 1
    for bad in ({"threshold": 0.0}, {"threshold": 1.5}, {"max_task_vectors": 1}, {"model": ""}, {"k": -1}):
        with pytest.raises(ConfigError, match="semdedup"):
            SemDedupConfig(**bad)
