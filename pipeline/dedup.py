"""Deduplication settings and primitives (exact hash, line dedup). Owned by the dedup stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True)
class DedupConfig:
    ngram: int = 5
    num_perm: int = 128
    threshold: float = 0.8
    seed: int = 1
