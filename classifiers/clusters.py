"""Unsupervised categories `domain_clusters_v1`: hashed TF-IDF vectors and their nearest centroid.

`jobs/cluster_domains.py` fits the centroids with Spark MLlib (HashingTF → IDF → Normalizer → KMeans)
on a sample; this module reproduces the same vector for any document without Spark and assigns it to
the nearest centroid. The two agree because both sides take terms from `terms()` and Spark's
HashingTF (3.0+) indexes a term by murmur3_x86_32 of its UTF-8 bytes with seed 42, modulo the
number of features, which `term_index` implements.

The model is `<name>.npz` (centroids, idf; loaded with allow_pickle=False) plus its card `<name>.json`
(cluster names from their top terms, number of features, sha256).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import ModelError, file_sha256

KIND = "domain_clusters"
SPARK_HASH_SEED = 42


def _words(text: str) -> list[str]:
    return text.split()


_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
STOPWORDS = frozenset(_words(
    "the and for are but not you all any can had her was one our out has him his how man new now old see "
    "two way who did its let put say she too use that with have this will your from they know want been "
    "good much some time very when come here just like long make many more only over such take than them "
    "well were what there their which would about could other these those into also then after where "
    "while being most der die das und ist nicht mit sich des auf für von den dem ein eine einer eines als "
    "auch noch nach bei les des une pour dans qui que est pas sur avec"
))


def terms(text: str, max_chars: int = 20000) -> list[str]:
    """Lowercased words of three or more letters, stopwords removed."""
    return [w for w in _WORD.findall(text[:max_chars].lower()) if w not in STOPWORDS]


def _murmur3_32(data: bytes, seed: int) -> int:
    """Standard murmur3_x86_32 as a signed 32-bit int (what Spark's hashUnsafeBytes2 returns)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n_blocks = len(data) // 4
    for i in range(n_blocks):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[4 * n_blocks:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        h ^= (k * c2) & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def term_index(term: str, num_features: int) -> int:
    return _murmur3_32(term.encode("utf-8"), SPARK_HASH_SEED) % num_features


class ClusterDomainModel:
    kind = KIND

    def __init__(self, centroids: np.ndarray, idf: np.ndarray, names: list[str], path: str):
        self.centroids = centroids.astype(np.float32)
        self.centroid_norms = np.linalg.norm(self.centroids, axis=1)
        self.idf = idf.astype(np.float32)
        self.num_features = len(idf)
        self.categories = names
        self.path = path
        self._index_cache: dict[str, int] = {}

    @classmethod
    def load(cls, path: str | Path) -> ClusterDomainModel:
        path = Path(path)
        card_file = path.with_suffix(".json")
        if not path.is_file():
            raise ModelError(f"{path}: {KIND} model file not found")
        if not card_file.is_file():
            raise ModelError(f"{path}: its card {card_file.name} (cluster names, features) is missing")
        try:
            card = json.loads(card_file.read_text())
        except json.JSONDecodeError as e:
            raise ModelError(f"{card_file}: not valid JSON: {e}") from None
        if card.get("sha256") != file_sha256(path):
            raise ModelError(f"{path}: {KIND} model file is corrupt or truncated (sha256 differs from its card)")
        try:
            with np.load(path, allow_pickle=False) as data:
                centroids, idf = data["centroids"], data["idf"]
        except (ValueError, KeyError, OSError) as e:
            raise ModelError(f"{path}: not a {KIND} model ({e})") from None
        names = card.get("names", [])
        if centroids.ndim != 2 or centroids.shape[1] != len(idf) or len(names) != len(centroids):
            raise ModelError(f"{path}: centroids {centroids.shape}, idf {idf.shape} and {len(names)} names disagree")
        return cls(centroids, idf, names, str(path))

    def vectorize(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse L2-normalized TF-IDF (indices, values) as Spark's pipeline computes it."""
        counts: dict[int, int] = {}
        for term in terms(text):
            index = self._index_cache.get(term)
            if index is None:
                index = self._index_cache[term] = term_index(term, self.num_features)
            counts[index] = counts.get(index, 0) + 1
        indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float32, count=len(counts)) * self.idf[indices]
        norm = float(np.linalg.norm(values))
        return indices, (values / norm if norm > 0 else values)

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """(nearest cluster's name, cosine similarity to its centroid) per text."""
        names, scores = [], np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            indices, values = self.vectorize(text)
            dots = self.centroids[:, indices] @ values
            # nearest in Euclidean distance, as KMeans assigns: |c|^2 - 2 x.c (|x|^2 is the same for all)
            best = int(np.argmin(self.centroid_norms**2 - 2 * dots))
            names.append(self.categories[best])
            denom = self.centroid_norms[best] * (1.0 if len(values) else 0.0)
            scores[i] = float(dots[best] / denom) if denom > 0 else 0.0
        return names, scores


def save_cluster_model(path: str | Path, centroids: np.ndarray, idf: np.ndarray, names: list[str],
                       metrics: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, centroids=centroids.astype(np.float32), idf=idf.astype(np.float32))
    card = {"file": path.name, "kind": KIND, "bytes": path.stat().st_size, "sha256": file_sha256(path),
            "names": names, "num_features": len(idf), "hash": "murmur3_x86_32 seed 42 (Spark HashingTF)",
            "metrics": metrics}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
