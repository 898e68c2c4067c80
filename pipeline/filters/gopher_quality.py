"""Gopher quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1) with the published thresholds.

Words are whitespace tokens (see text_view). In unspaced scripts (Chinese, Japanese, Thai, ...) the word count
counts characters, and the mean-word-length, symbol-to-word and alphabetic-word rules are skipped: a whitespace
token there is a clause, so those ratios say nothing about quality. The stop-word rule is English: it runs for
documents labelled with a language in `stop_words_langs`, and for unlabelled ones in spaced scripts (as Gopher
did), never for German or Chinese.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from itertools import compress, islice
from typing import ClassVar

from pipeline.config import AutoCount, Fraction, NonNegative
from pipeline.document import Document
from pipeline.filters.base import Filter
from pipeline.filters.checks import check_at_least, check_fraction, check_order
from pipeline.filters.text_view import view_of
from pipeline.stats import DropReason

_SECTION = "filters.gopher_quality"
_HAS_LETTER = re.compile(r"[^\W\d_]")
_BULLETS = ("•", "‣", "◦", "▪", "·", "-", "*")
_ELLIPSES = ("...", "…")


@dataclass(kw_only=True)
class GopherQualityConfig:
    enabled: bool = True
    min_doc_words: AutoCount = 50
    max_doc_words: AutoCount = 100_000
    min_avg_word_length: NonNegative = 3.0
    max_avg_word_length: NonNegative = 10.0
    max_symbol_word_ratio: Fraction = 0.1  # for "#" and for ellipses, each on its own
    max_bullet_lines_ratio: Fraction = 0.9
    max_ellipsis_lines_ratio: Fraction = 0.3
    min_alpha_words_ratio: Fraction = 0.8  # words with at least one letter
    min_stop_words: AutoCount = 2
    stop_words: list[str] = field(default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"])
    stop_words_langs: list[str] = field(default_factory=lambda: ["en"])

    def __post_init__(self) -> None:
        for name in ("min_doc_words", "max_doc_words", "min_avg_word_length", "max_avg_word_length", "min_stop_words"):
            check_at_least(_SECTION, name, getattr(self, name))
        for name in ("max_symbol_word_ratio", "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                     "min_alpha_words_ratio"):
            check_fraction(_SECTION, name, getattr(self, name))
        check_order(_SECTION, "min_doc_words", self.min_doc_words, "max_doc_words", self.max_doc_words)
        check_order(_SECTION, "min_avg_word_length", self.min_avg_word_length,
                    "max_avg_word_length", self.max_avg_word_length)


class GopherQualityFilter(Filter):
    """Drops with "gopher_quality:<rule>"; rules run cheapest first and the first failing one is reported."""

    name: ClassVar[str] = DropReason.GOPHER_QUALITY

    def __init__(self, config: GopherQualityConfig | None = None) -> None:
        self.config = config or GopherQualityConfig()
        words = "|".join(sorted(map(re.escape, self.config.stop_words)))
        self._stop_word = re.compile(rf"\b(?:{words})\b", re.IGNORECASE) if words else None
        self._stop_words_langs = frozenset(self.config.stop_words_langs)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cfg = self.config
        view = view_of(doc)
        n_words = view.n_words
        if n_words < cfg.min_doc_words or n_words == 0:
            return self._drop("too_few_words", n_words)
        if n_words > cfg.max_doc_words:
            return self._drop("too_many_words", n_words)

        words = view.words
        if not view.unspaced:
            avg_len = view.n_word_chars / len(words)
            if avg_len < cfg.min_avg_word_length:
                return self._drop("short_mean_word_length", avg_len)
            if avg_len > cfg.max_avg_word_length:
                return self._drop("long_mean_word_length", avg_len)
            text = doc.text
            if (n_hash := text.count("#")) > cfg.max_symbol_word_ratio * n_words:
                return self._drop("hash_ratio", n_hash / n_words)
            if (n_ellipsis := text.count("...") + text.count("…")) > cfg.max_symbol_word_ratio * n_words:
                return self._drop("ellipsis_ratio", n_ellipsis / n_words)

        lines = view.lines
        n_bullet = sum(1 for line in lines if line.startswith(_BULLETS))
        if n_bullet > cfg.max_bullet_lines_ratio * len(lines):
            return self._drop("bullet_lines_ratio", n_bullet / len(lines))
        n_cut = sum(1 for line in lines if line.endswith(_ELLIPSES))
        if n_cut > cfg.max_ellipsis_lines_ratio * len(lines):
            return self._drop("ellipsis_lines_ratio", n_cut / len(lines))

        if not view.unspaced:
            # Most words are purely alphabetic (str.isalpha, C speed); only the rest need the regex.
            not_alpha = list(compress(words, map(operator.not_, map(str.isalpha, words))))
            n_without_letter = len(not_alpha) - sum(map(bool, map(_HAS_LETTER.search, not_alpha)))
            if len(words) - n_without_letter < cfg.min_alpha_words_ratio * len(words):
                return self._drop("alpha_words_ratio", (len(words) - n_without_letter) / len(words))

        if self._stop_word is not None and cfg.min_stop_words > 0 and not view.unspaced and (
            not doc.lang or doc.lang in self._stop_words_langs
        ):
            # Stop at the min_stop_words-th match: most English documents get there in the first sentence.
            matches = self._stop_word.finditer(doc.text)
            if (n_stop := sum(1 for _ in islice(matches, cfg.min_stop_words))) < cfg.min_stop_words:
                return self._drop("too_few_stop_words", n_stop)
        return True
