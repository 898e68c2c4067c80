"""FineWeb's own rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.4) with the published thresholds.

They catch what Gopher and C4 miss in Common Crawl text: pages that are mostly link lists or menus (few lines end
in punctuation, most lines are short, many newlines per word) and pages whose lines repeat. Lines are the non-blank
lines, stripped; the duplicate-line ratio is over their characters; words are whitespace words (characters in
unspaced scripts, see text_view). Thai and Lao end sentences with a space, not punctuation: the line-punctuation
rule does not apply to them. A Chinese or Japanese character carries about a word, so a short line there is one of
at most `short_line_length_dense` characters (10, where FineWeb's 30 would drop pages of short sentences).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pipeline.config import AutoCount, Fraction, NonNegative
from pipeline.document import Document
from pipeline.filters.base import Filter
from pipeline.filters.checks import check_at_least, check_fraction
from pipeline.filters.text_view import TERMINAL_PUNCTUATION, count_duplicates, view_of
from pipeline.stats import DropReason

_SECTION = "filters.fineweb"


@dataclass(kw_only=True)
class FineWebConfig:
    enabled: bool = True
    min_line_punct_ratio: Fraction = 0.12  # lines ending in terminal punctuation
    line_punct_exclude_zero: bool = False  # true: a document with no such line at all is kept
    max_short_line_ratio: Fraction = 0.67
    short_line_length: AutoCount = 30  # characters
    short_line_length_dense: AutoCount = 10  # characters, in Chinese and Japanese (text_view.DENSE_LANGS)
    max_dup_line_char_ratio: Fraction = 0.01
    max_newline_word_ratio: NonNegative = 0.3

    def __post_init__(self) -> None:
        for name in ("min_line_punct_ratio", "max_short_line_ratio", "max_dup_line_char_ratio"):
            check_fraction(_SECTION, name, getattr(self, name))
        check_at_least(_SECTION, "short_line_length", self.short_line_length)
        check_at_least(_SECTION, "short_line_length_dense", self.short_line_length_dense)
        check_at_least(_SECTION, "max_newline_word_ratio", self.max_newline_word_ratio)


class FineWebFilter(Filter):
    """Drops with "fineweb:<rule>"."""

    name: ClassVar[str] = DropReason.FINEWEB

    def __init__(self, config: FineWebConfig | None = None) -> None:
        self.config = config or FineWebConfig()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cfg = self.config
        view = view_of(doc)
        lines = view.lines
        if not lines:
            return self._drop("empty")
        n_lines = len(lines)
        if not view.unpunctuated:
            n_punct = sum(1 for line in lines if line.endswith(TERMINAL_PUNCTUATION))
            if n_punct < cfg.min_line_punct_ratio * n_lines and not (cfg.line_punct_exclude_zero and n_punct == 0):
                return self._drop("line_punct_ratio", n_punct / n_lines)
        short = cfg.short_line_length_dense if view.dense else cfg.short_line_length
        n_short = sum(1 for line in lines if len(line) <= short)
        if n_short > cfg.max_short_line_ratio * n_lines:
            return self._drop("short_line_ratio", n_short / n_lines)
        _, dup_chars = count_duplicates(lines)
        if dup_chars > cfg.max_dup_line_char_ratio * (total := sum(map(len, lines))):
            return self._drop("dup_line_char_ratio", dup_chars / total)
        if (n_newlines := doc.text.count("\n")) > cfg.max_newline_word_ratio * view.n_words:
            return self._drop("list_ratio", n_newlines / view.n_words if view.n_words else None)
        return True
