"""Test oracle: the near-duplicate decision of pipeline/dedup/clusters.py restated in plain Python over a whole
corpus held in memory, the way it reads on paper. Nothing in the stage runs this; tests compare the production
functions (and the Spark job) with it, and benchmarks score against it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipeline.dedup.clusters import keeper_rank
from pipeline.dedup.lsh import verified


def reference_keeper(shared_by_id: Mapping[str, int]) -> str:
    return min(shared_by_id, key=lambda doc_id: keeper_rank(shared_by_id[doc_id], doc_id))


@dataclass
class NearDuplicates:
    """What near-duplicate detection decides: each clustered document's keeper, and what it counted."""

    keeper_of: dict[str, str]  # every document in a cluster of >= 2 -> the cluster's keeper
    shared: dict[str, int]  # verified bucket memberships per clustered document (the keeper rule's input)
    counters: dict[str, int]


def reference_components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, str]:
    """node -> the smallest node of its connected component (union-find)."""
    parent = {n: n for n in nodes}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: root(n) for n in parent}


def reference_near_duplicate_clusters(ids: Sequence[str], band_keys: Sequence[Sequence[int]], signatures,
                                      threshold: float, verify: bool = True, rounds: int = 4) -> NearDuplicates:
    """The rounds of bucket representatives, verification, components and keeper rule of
    pipeline/dedup/clusters.py (its docstring states the rule), over every document at once."""
    members: dict[int, list[str]] = {}
    for doc_id, keys in zip(ids, band_keys, strict=True):
        for key in set(keys) - {0}:
            members.setdefault(key, []).append(doc_id)
    buckets = {key: sorted(m) for key, m in members.items() if len(m) > 1}
    degree: dict[str, int] = {}
    for bucket in buckets.values():
        for doc_id in bucket:
            degree[doc_id] = degree.get(doc_id, 0) + len(bucket) - 1
    row = {doc_id: i for i, doc_id in enumerate(ids)}
    pending, reps = dict(buckets), {key: set() for key in buckets}
    counters = {"near_candidate_pairs": 0, "near_verified_pairs": 0, "near_rejected_pairs": 0, "verify_rounds": 0}
    groups: dict[tuple[int, str], list[str]] = {}
    for _ in range(rounds):
        round_pairs: dict[tuple[str, str], bool] = {}
        tried = {}
        for key, left in pending.items():
            rep = min(left, key=lambda m: keeper_rank(degree[m], m))
            reps[key].add(rep)
            tried[key] = (rep, [m for m in buckets[key] if m not in reps[key]])
            for m in tried[key][1]:
                round_pairs[(m, rep)] = False
        if not round_pairs:
            break
        counters["verify_rounds"] += 1
        for m, rep in round_pairs:
            round_pairs[(m, rep)] = not verify or bool(verified(signatures[row[m]], signatures[row[rep]], threshold))
        ok = sum(round_pairs.values())
        counters["near_candidate_pairs"] += len(round_pairs)
        counters["near_verified_pairs"] += ok
        counters["near_rejected_pairs"] += len(round_pairs) - ok
        next_pending = {}
        for key, (rep, tested) in tried.items():
            good = [m for m in tested if round_pairs[(m, rep)]]
            if good:
                groups[(key, rep)] = good
            left = [m for m in pending[key] if m != rep and not round_pairs[(m, rep)]]
            if left:
                next_pending[key] = left
        pending = next_pending
    shared: dict[str, int] = {}
    for (_, rep), good in groups.items():
        for doc_id in (rep, *good):
            shared[doc_id] = shared.get(doc_id, 0) + len(good)
    label = reference_components(list(shared), [(m, rep) for (_, rep), good in groups.items() for m in good])
    clusters: dict[str, dict[str, int]] = {}
    for doc_id in shared:
        clusters.setdefault(label[doc_id], {})[doc_id] = shared[doc_id]
    keeper_of = {doc_id: reference_keeper(c) for c in clusters.values() for doc_id in c}
    return NearDuplicates(keeper_of, shared, counters)
