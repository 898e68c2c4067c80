"""Gopher repetition rules (Rae et al. 2021, table A1) with the published thresholds.

Fractions of characters are taken over the characters of the units compared (non-space characters for n-grams,
stripped lines, stripped paragraphs), so a text that is one sentence repeated scores 1.0 whatever its spacing.
Duplicate n-gram characters count every word covered by an occurrence of an n-gram seen earlier in the document
(the first occurrence is not a duplicate). N-grams are compared by a 64-bit polynomial hash of the words' hashes,
vectorized with numpy, so no n-gram string or tuple is ever built.

Unspaced scripts (Chinese, Japanese, Thai, ...) skip the n-gram rules, whose thresholds were set for words;
their duplicate line and paragraph rules still apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from pipeline.config import ConfigError, Fraction
from pipeline.document import Document
from pipeline.filters.base import Filter
from pipeline.filters.checks import check_fraction
from pipeline.filters.text_view import count_duplicates, view_of
from pipeline.stats import DropReason

_SECTION = "filters.gopher_repetition"
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so the rolling hash loses no bits of the next word
_LOW_16_BITS = np.uint64(0xFFFF)
_HIGH_48_BITS = ~_LOW_16_BITS


@dataclass(kw_only=True)
class GopherRepetitionConfig:
    enabled: bool = True
    max_dup_para_frac: Fraction = 0.3
    max_dup_para_char_frac: Fraction = 0.2
    max_dup_line_frac: Fraction = 0.3
    max_dup_line_char_frac: Fraction = 0.2
    # n (as a TOML key) -> max fraction of characters in the most frequent n-gram
    max_top_ngram_char_frac: dict[str, Fraction] = field(default_factory=lambda: {"2": 0.20, "3": 0.18, "4": 0.16})
    # n -> max fraction of characters in duplicated n-grams
    max_dup_ngram_char_frac: dict[str, Fraction] = field(
        default_factory=lambda: {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}
    )

    def __post_init__(self) -> None:
        for name in ("max_dup_para_frac", "max_dup_para_char_frac", "max_dup_line_frac", "max_dup_line_char_frac"):
            check_fraction(_SECTION, name, getattr(self, name))
        for name in ("max_top_ngram_char_frac", "max_dup_ngram_char_frac"):
            for n, frac in getattr(self, name).items():
                if not str(n).isdigit() or int(n) < 2:
                    raise ConfigError(f"{_SECTION}.{name}.{n}: the key must be an n-gram size (an integer >= 2)")
                check_fraction(_SECTION, f"{name}.{n}", frac)


class GopherRepetitionFilter(Filter):
    """Drops with "gopher_repetition:<rule>", e.g. "gopher_repetition:dup_5_gram"."""

    name: ClassVar[str] = DropReason.GOPHER_REPETITION

    def __init__(self, config: GopherRepetitionConfig | None = None) -> None:
        self.config = config or GopherRepetitionConfig()
        self._top = {int(n): frac for n, frac in self.config.max_top_ngram_char_frac.items()}
        self._dup = {int(n): frac for n, frac in self.config.max_dup_ngram_char_frac.items()}
        self._max_n = max([*self._top, *self._dup], default=0)
        # A duplicated (n+1)-gram is made of duplicated n-grams, so the duplicate fraction never grows with n:
        # once it is under every threshold still to check, the larger n cannot fail.
        self._dup_floor = {n: min(f for m, f in self._dup.items() if m >= n) for n in self._dup}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cfg = self.config
        view = view_of(doc)
        paragraphs = [p for p in map(str.strip, _PARAGRAPH_BREAK.split(doc.text)) if p]
        for unit, items, max_frac, max_char_frac in (
            ("para", paragraphs, cfg.max_dup_para_frac, cfg.max_dup_para_char_frac),
            ("line", view.lines, cfg.max_dup_line_frac, cfg.max_dup_line_char_frac),
        ):
            n_dup, dup_chars = count_duplicates(items)
            if n_dup > max_frac * len(items):
                return self._drop(f"dup_{unit}_frac", n_dup / len(items))
            if dup_chars > max_char_frac * (total := sum(map(len, items))):
                return self._drop(f"dup_{unit}_char_frac", dup_chars / total)
        if view.unspaced or self._max_n == 0:
            return True
        rule = self._ngram_rule(view.words, view.n_word_chars)
        return True if rule is None else self._drop(rule)

    def _ngram_rule(self, words: list[str], total_chars: int) -> str | None:
        n_words = len(words)
        if n_words < 2 or total_chars == 0:
            return None
        word_hash = np.fromiter(map(hash, words), dtype=np.int64, count=n_words).view(np.uint64)
        word_len = np.fromiter(map(len, words), dtype=np.int64, count=n_words)
        chars_before = np.concatenate(([0], np.cumsum(word_len)))
        ngram_hash = word_hash  # ngram_hash[i] identifies the n-gram that starts at word i
        check_dup = bool(self._dup)
        last_top = max(self._top, default=0)
        for n in range(2, min(self._max_n, n_words) + 1):
            ngram_hash = ngram_hash[:-1] * _HASH_MULTIPLIER + word_hash[n - 1 :]
            if n in self._top:
                top_chars = _top_ngram_chars(ngram_hash, chars_before[n:] - chars_before[:-n])
                if top_chars == 0 and n == 2:
                    return None  # no 2-gram occurs twice, so no longer n-gram does either
                if top_chars > self._top[n] * total_chars:
                    return f"top_{n}_gram"
            if check_dup and n in self._dup:
                dup_chars = _duplicated_ngram_chars(ngram_hash, word_len, n)
                if dup_chars > self._dup[n] * total_chars:
                    return f"dup_{n}_gram"
                check_dup = dup_chars > self._dup_floor[n] * total_chars
            if not check_dup and n >= last_top:
                break
        return None


def _top_ngram_chars(ngram_hash: np.ndarray, ngram_len: np.ndarray) -> int:
    """Characters covered by the most frequent n-gram (count x length); 0 when no n-gram occurs twice."""
    # The low 16 bits carry the n-gram's length, so one plain sort gives both counts and lengths: equal n-grams
    # keep equal keys, and 48 bits of hash still make a collision within one document vanishingly unlikely.
    keyed = (ngram_hash & _HIGH_48_BITS) | np.minimum(ngram_len, _LOW_16_BITS).astype(np.uint64)
    keyed.sort()
    run_starts = np.flatnonzero(np.concatenate(([True], keyed[1:] != keyed[:-1])))
    counts = np.diff(np.append(run_starts, keyed.size))
    top_count = int(counts.max())
    if top_count < 2:
        return 0
    longest = int((keyed[run_starts[counts == top_count]] & _LOW_16_BITS).max())  # ties: the longest one counts
    return top_count * longest


def _duplicated_ngram_chars(ngram_hash: np.ndarray, word_len: np.ndarray, n: int) -> int:
    """Characters of the words covered by an n-gram that already occurred earlier in the text."""
    order = np.argsort(ngram_hash, kind="stable")  # equal hashes stay in text order: the first is the original
    ordered = ngram_hash[order]
    repeat_starts = order[1:][ordered[1:] == ordered[:-1]]
    if repeat_starts.size == 0:
        return 0
    edges = np.zeros(word_len.size + 1, dtype=np.int32)
    edges[repeat_starts] += 1
    edges[repeat_starts + n] -= 1
    return int(word_len[np.cumsum(edges[:-1]) > 0].sum())
