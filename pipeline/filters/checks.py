"""Validation shared by the filter configs: each message names the full TOML key (filters.c4.min_num_sentences)."""

from __future__ import annotations

from pipeline.config import ConfigError


def check_fraction(section: str, name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{section}.{name}: must be between 0 and 1, got {value!r}")


def check_at_least(section: str, name: str, value: float, minimum: float = 0) -> None:
    if value < minimum:
        raise ConfigError(f"{section}.{name}: must be at least {minimum}, got {value!r}")


def check_order(section: str, low_name: str, low: float, high_name: str, high: float) -> None:
    if low > high:
        raise ConfigError(f"{section}.{low_name} ({low!r}) must not exceed {section}.{high_name} ({high!r})")
