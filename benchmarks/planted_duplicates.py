"""Generated prose with planted near-duplicate clusters of known sizes: the truth for dedup at any scale.

    corpus = PlantedCorpus.build(n_docs=1_000_000, seed=1)     # or PlantedCorpus.small() for tests
    corpus.write_parquet(folder, n_files=16)                    # the job's document schema, written in batches
    corpus.clusters                                             # planted cluster name -> member ids

Documents are random words drawn with Zipf weights from a synthetic vocabulary (no downloaded text), 120-280
words each, so two unrelated documents share no 5-word shingle. Planted on top, at random positions in the
corpus:
- one big cluster (10,000 documents at full size): copies of one base text, 0-2 words replaced each (a fifth
  exact copies), so every pair has J >= ~0.82;
- chains: each link replaces one word of the previous document (J ~ 0.95 between neighbours), long enough
  that its two ends share nothing: one cluster only through the links in between (many connected-components
  rounds);
- small clusters of 2-20 near copies (0-2 words replaced).
Every other document is unique. Text is generated in batches from per-document seeds, so any batch can be
made without holding the corpus in memory, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


@lru_cache(maxsize=4)
def vocabulary(size: int = 30_000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Distinct synthetic words of 2-4 syllables and the cumulative Zipf(1.1) distribution over them."""
    rng = np.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        n = int(rng.integers(2, 5))
        words["".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), n))] = None
    weights = 1.0 / np.arange(1, size + 1) ** 1.1
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return np.array(list(words), dtype=object), cdf


def _doc_id(seed: int, index: int) -> str:
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).hexdigest()


def _unique_seed(seed: int, index: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"unique:{seed}:{index}".encode(), digest_size=8).digest(), "little")


@dataclass
class PlantedCorpus:
    n_docs: int
    seed: int
    # document index -> (cluster name, base seed, edits as a tuple of (position, word index)); unique docs absent
    planted: dict[int, tuple[str, int, tuple[tuple[int, int], ...]]] = field(default_factory=dict)
    clusters: dict[str, list[str]] = field(default_factory=dict)  # cluster name -> member ids

    @classmethod
    def build(cls, n_docs: int = 1_000_000, seed: int = 1, big: int = 10_000, chains: int = 20,
              chain_length: int = 200, small_clusters: int = 4_000) -> PlantedCorpus:
        rng = np.random.default_rng(seed)
        vocab_size = vocabulary()[0].size
        sizes = [("big", big)] + [(f"chain{c}", chain_length) for c in range(chains)]
        sizes += [(f"small{c}", int(s)) for c, s in enumerate(rng.integers(2, 21, small_clusters))]
        total = sum(s for _, s in sizes)
        if total > n_docs:
            raise ValueError(f"{total} planted documents do not fit in {n_docs}")
        slots = iter(rng.permutation(n_docs)[:total].tolist())
        corpus = cls(n_docs, seed)
        for name, size in sizes:
            base = int(rng.integers(2**62))
            edits: tuple[tuple[int, int], ...] = ()
            for k in range(size):
                if name.startswith("chain"):
                    edits = (*edits, (int(rng.integers(2**31)), int(rng.integers(vocab_size)))) if k else ()
                    member_edits = edits
                else:
                    n_edits = int(rng.choice(3, p=[0.2, 0.5, 0.3])) if k else 0
                    member_edits = tuple((int(rng.integers(2**31)), int(rng.integers(vocab_size)))
                                         for _ in range(n_edits))
                index = next(slots)
                corpus.planted[index] = (name, base, member_edits)
                corpus.clusters.setdefault(name, []).append(_doc_id(seed, index))
        return corpus

    @classmethod
    def small(cls, n_docs: int = 2_000, seed: int = 1) -> PlantedCorpus:
        """The same structure at test size: a 100-copy cluster, 3 chains of 30, 40 small clusters."""
        return cls.build(n_docs, seed, big=100, chains=3, chain_length=30, small_clusters=40)

    def text(self, index: int) -> str:
        words, cdf = vocabulary()
        name_base_edits = self.planted.get(index)
        rng = np.random.default_rng(name_base_edits[1] if name_base_edits else _unique_seed(self.seed, index))
        picked = np.searchsorted(cdf, rng.random(int(rng.integers(120, 281))))
        for position, word in name_base_edits[2] if name_base_edits else ():
            picked[position % picked.size] = word
        return " ".join(words[picked].tolist())

    def ids(self, start: int, stop: int) -> list[str]:
        return [_doc_id(self.seed, i) for i in range(start, stop)]

    def batches(self, size: int = 10_000):
        """(ids, texts) of consecutive documents, `size` at a time."""
        for start in range(0, self.n_docs, size):
            stop = min(start + size, self.n_docs)
            yield self.ids(start, stop), [self.text(i) for i in range(start, stop)]

    def write_parquet(self, folder: Path, n_files: int = 8, batch: int = 10_000) -> None:
        """The documents in the pipeline's document schema, file f holding consecutive batches."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from pipeline.document import document_arrow_schema

        folder.mkdir(parents=True, exist_ok=True)
        schema = document_arrow_schema()
        n_batches = -(-self.n_docs // batch)
        writers = [pq.ParquetWriter(folder / f"part-{f:05d}.parquet", schema) for f in range(n_files)]
        try:
            for b, (ids, texts) in enumerate(self.batches(batch)):
                start = b * batch
                table = pa.table({
                    "id": ids, "url": [f"https://planted.example/{i}" for i in ids],
                    "domain": ["planted.example"] * len(ids), "warc_path": ["generated"] * len(ids),
                    "warc_offset": list(range(start, start + len(ids))),
                    "fetch_time": ["2024-01-01T00:00:00Z"] * len(ids), "lang": ["en"] * len(ids),
                    "lang_score": [1.0] * len(ids), "text": texts, "n_chars": [len(t) for t in texts],
                }, schema=schema)
                writers[b * n_files // n_batches].write_table(table)
        finally:
            for w in writers:
                w.close()

    def score(self, kept: dict[str, int]) -> dict:
        """Compare a dedup output (kept id -> dup_cluster_size) with the planted truth."""
        exact_clusters, split, lost = 0, 0, 0
        for members in self.clusters.values():
            kept_members = [m for m in members if m in kept]
            if len(kept_members) == 1 and kept[kept_members[0]] == len(members):
                exact_clusters += 1
            elif not kept_members:
                lost += 1
            else:
                split += 1
        planted_ids = {m for members in self.clusters.values() for m in members}
        unique_kept = sum(1 for i in kept if i not in planted_ids)
        unique_total = self.n_docs - len(planted_ids)
        return {"planted_clusters": len(self.clusters), "found_exactly": exact_clusters, "split_or_merged": split,
                "lost": lost, "unique_docs": unique_total, "unique_kept": unique_kept,
                "unique_kept_alone": sum(1 for i, n in kept.items() if i not in planted_ids and n == 1),
                "big_cluster": {"size": len(self.clusters["big"]),
                                "kept": sum(1 for m in self.clusters["big"] if m in kept)}}
