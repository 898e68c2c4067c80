"""Deduplication settings and primitives: exact fingerprints of normalised text, line-level dedup helpers. The
near-duplicate decision (verified LSH candidates, clusters and the keeper rule) is pipeline/dedup/clusters.py.

Normalisation is the one pipeline/dedup/minhash.py applies for shingles (lowercase, punctuation and whitespace
folded), so "exact duplicate" means "same words in the same order". A text without words has the
fingerprint (0, 0): all such texts are exact duplicates of each other and never near-duplicate candidates.
"""

from __future__ import annotations

import dataclasses
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
    verify_rounds: Count = 4  # representatives per bucket tried (pipeline.dedup.clusters.representative_round)
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
