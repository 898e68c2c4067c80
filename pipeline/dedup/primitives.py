"""Deduplication settings and primitives: exact fingerprints of normalised text, the near-duplicate decision
(verified LSH candidates, clusters and the keeper rule) stated in plain Python, line-level dedup helpers.

Normalisation is the one pipeline/dedup/minhash.py applies for shingles (lowercase, punctuation and whitespace
folded), so "exact duplicate" means "same words in the same order". A text without words has the
fingerprint (0, 0): all such texts are exact duplicates of each other and never near-duplicate candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from pipeline.config import AutoCount, ConfigError, Count, Range, Seed
from pipeline.dedup.minhash import fmix64, tokenize, word_hash_powers

PRESETS: dict[str, dict[str, int]] = {
    # dots.llm1 (arXiv 2506.05767): 5-gram shingles, 2048 hashes in 128 bands of 16 rows.
    "dots_llm1": {"ngram": 5, "num_perm": 2048, "bands": 128, "rows": 16},
}


@dataclass(kw_only=True)
class DedupConfig:
    preset: str = ""  # "" or a name in PRESETS; sets ngram, num_perm, bands and rows
    exact: bool = True  # drop copies with the same normalised text
    near: bool = True  # drop MinHash-LSH near duplicates
    ngram: Count = 5  # words per shingle
    num_perm: Annotated[int, Range(1, 4096)] = 128  # MinHash signature length
    # Jaccard similarity of near duplicates: bands x rows aim at it, verification checks it
    threshold: Annotated[float, Range(0.0, 1.0, open_lo=True, open_hi=True)] = 0.8
    verify: bool = True  # count a shared bucket as an edge only if the full signatures estimate >= threshold
    verify_rounds: Count = 4  # representatives per bucket tried (see near_duplicate_clusters)
    bands: AutoCount = 0  # 0: chosen from threshold (with rows)
    rows: AutoCount = 0
    # weight of false positives against false negatives when choosing bands x rows; -1: 0.1 with verify (a false
    # candidate then costs one signature comparison, a missed one leaves a duplicate), 0.5 without
    fp_weight: Annotated[float, Range(-1.0, 1.0)] = -1.0
    seed: Seed = 1
    lines: bool = True  # dots.llm1 line-level dedup of the first and last lines
    line_first: AutoCount = 5  # look at this many first non-blank lines of every document...
    line_last: AutoCount = 5  # ...and this many last ones
    line_max_occurrences: Count = 200  # a line seen more often keeps this many occurrences (by document id)
    max_cc_iterations: Count = 40  # connected-components rounds before the job gives up
    batch_rows: Count = 1000  # documents per signature batch: bounds the Python worker's memory
    output_files: AutoCount = 0  # 0: one per 128 MiB of input
    shuffle_partitions: AutoCount = 0  # 0: spark.sql.shuffle.partitions if submitted, else from cores and input size

    def __post_init__(self) -> None:
        if self.preset:
            if self.preset not in PRESETS:
                raise ConfigError(f"dedup.preset: {self.preset!r} is not one of {', '.join(map(repr, PRESETS))}")
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for key, value in PRESETS[self.preset].items():
                current = getattr(self, key)
                if current not in (defaults[key], value):
                    raise ConfigError(
                        f"dedup.{key} = {current} conflicts with preset {self.preset!r} ({key} = {value})"
                    )
                setattr(self, key, value)
        for key in ("ngram", "num_perm", "line_max_occurrences", "max_cc_iterations", "batch_rows", "verify_rounds"):
            if getattr(self, key) < 1:
                raise ConfigError(f"dedup.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("bands", "rows", "line_first", "line_last", "output_files", "shuffle_partitions"):
            if getattr(self, key) < 0:
                raise ConfigError(f"dedup.{key} must be >= 0, got {getattr(self, key)}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"dedup.threshold must be between 0 and 1, got {self.threshold}")
        if not (0.0 <= self.fp_weight <= 1.0 or self.fp_weight == -1.0):
            raise ConfigError(f"dedup.fp_weight must be between 0 and 1 (or -1: from verify), got {self.fp_weight}")
        if (self.bands == 0) != (self.rows == 0):
            raise ConfigError("dedup.bands and dedup.rows are set together (or both 0 to derive them from threshold)")
        if self.bands * self.rows > self.num_perm:
            raise ConfigError(
                f"dedup.bands * dedup.rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )

    def lsh_params(self) -> tuple[int, int]:
        """Set bands x rows, or the split whose S-curve midpoint is within 0.02 of the threshold
        (pipeline.dedup.lsh.threshold_bands_rows): 11 x 10 (midpoint 0.787) over 128 hashes at 0.8."""
        if self.bands:
            return self.bands, self.rows
        from pipeline.dedup.lsh import threshold_bands_rows

        fp_weight = self.fp_weight if self.fp_weight >= 0 else (0.1 if self.verify else 0.5)
        return threshold_bands_rows(self.threshold, self.num_perm, fp_weight)


def keeper_rank(shared: int, doc_id: str) -> tuple[int, str]:
    """The keeper rule: a cluster keeps its member with the lowest rank, i.e. the one that shares the most
    verified buckets (the cluster's centre, close to most members: keeping an outlier of a chain would drop
    documents unlike anything kept), ties to the smallest id. Data alone decides, never partitioning."""
    return -shared, doc_id


def keeper(shared_by_id: Mapping[str, int]) -> str:
    return min(shared_by_id, key=lambda doc_id: keeper_rank(shared_by_id[doc_id], doc_id))


@dataclass
class NearDuplicates:
    """What near-duplicate detection decides: each clustered document's keeper, and what it counted."""

    keeper_of: dict[str, str]  # every document in a cluster of >= 2 -> the cluster's keeper
    shared: dict[str, int]  # verified bucket memberships per clustered document (the keeper rule's input)
    counters: dict[str, int]


def components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, str]:
    """node -> the smallest node of its connected component (union-find): the plain-Python reference for the
    components the Spark jobs compute (jobs.dedup_clusters.connected_components)."""
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


def near_duplicate_clusters(ids: Sequence[str], band_keys: Sequence[Sequence[int]], signatures, threshold: float,
                            verify: bool = True, rounds: int = 4) -> NearDuplicates:
    """Plain-Python statement of the near-duplicate decision that jobs/dedup.py distributes (it is tested to agree).

    Documents sharing an LSH bucket are candidates. Checking every pair of a bucket costs n**2 (a cluster of
    10,000 copies shares buckets of 10,000), so each bucket is checked against representatives instead: in
    round r its representative is the best-ranked member (keeper_rank by bucket degree, the number of other
    documents it shares buckets with, counted with repeats) among those no earlier representative verified,
    and every other non-representative member is checked against it (pairs repeated across buckets are checked
    once per round). The degree picks a cluster's centre, which is close to every member: the smallest id would
    pick a random copy, and two copies both edited away from their original can fall below the threshold
    together while each is close to the original. A homogeneous bucket costs n - 1 checks in one round; a
    bucket holding an outlier or a chain A~B~C with A !~ C gets the next representative, so B~C is still
    found. An edge counts only when the share of equal signature slots reaches `threshold`
    (pipeline.dedup.lsh.verified). Clusters are the connected components of verified edges; a representative's
    verified group of size g gives g - 1 shared buckets to each of its members, and the cluster keeps
    `keeper(shared)`.
    """
    from pipeline.dedup.lsh import verified

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
    label = components(list(shared), [(m, rep) for (_, rep), good in groups.items() for m in good])
    clusters: dict[str, dict[str, int]] = {}
    for doc_id in shared:
        clusters.setdefault(label[doc_id], {})[doc_id] = shared[doc_id]
    keeper_of = {doc_id: keeper(c) for c in clusters.values() for doc_id in c}
    return NearDuplicates(keeper_of, shared, counters)


def text_fingerprints(texts: list[str]) -> np.ndarray:
    """Two independent 64-bit order-sensitive hashes of each text's normalised words: uint64 (n, 2)."""
    tokens = tokenize(texts)
    words = tokens.word_hashes
    counts = np.diff(tokens.offsets).astype(np.uint64)
    out = np.zeros((len(texts), 2), dtype=np.uint64)
    nonempty = np.flatnonzero(counts)
    if nonempty.size == 0:
        return out
    forward, backward = word_hash_powers(words.size)
    firsts = tokens.offsets[nonempty]
    with np.errstate(over="ignore"):
        for col, salt in enumerate((0x243F6A8885A308D3, 0x13198A2E03707344)):
            mixed = fmix64(words ^ np.uint64(salt)) * forward[: words.size]
            sums = np.add.reduceat(mixed, firsts) * backward[firsts]  # position within the document
            out[nonempty, col] = fmix64(sums + counts[nonempty] * np.uint64(salt))
    return out


def candidate_lines(text: str, first: int, last: int) -> list[tuple[int, str]]:
    """(index in text.split('\\n'), line) of the first `first` and last `last` lines that have words."""
    lines = text.split("\n")
    worded = [i for i, line in enumerate(lines) if any(ch.isalnum() for ch in line)]
    picked = sorted(set(worded[:first]) | set(worded[len(worded) - last :] if last else []))
    return [(i, lines[i]) for i in picked]


def batch_line_keys(texts: list[str], first: int, last: int) -> tuple[list[list[int]], list[list[int]]]:
    """Per text: indices of its candidate lines and a signed 64-bit key of each line's normalised form."""
    per_doc = [candidate_lines(t, first, last) for t in texts]
    flat = [line for doc in per_doc for _, line in doc]
    keys = text_fingerprints(flat)[:, 0].view(np.int64).tolist() if flat else []
    indices, out_keys, pos = [], [], 0
    for doc in per_doc:
        indices.append([i for i, _ in doc])
        out_keys.append(keys[pos : pos + len(doc)])
        pos += len(doc)
    return indices, out_keys


def remove_lines(text: str, indices) -> tuple[str, int]:
    """The text without the lines at these indices of text.split('\\n'), and the characters removed."""
    if not indices:
        return text, 0
    drop = set(indices)
    lines = text.split("\n")
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return kept, len(text) - len(kept)
