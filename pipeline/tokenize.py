"""Tokenization settings and batch encoding. Owned by the shards stage."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(kw_only=True)
class TokenizeConfig:
    target_shard_mb: int = 256
