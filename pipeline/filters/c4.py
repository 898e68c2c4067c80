"""C4 line rules (Raffel et al. 2020, section 2.2): keep the lines that read like sentences, drop pages that are
templates or code. This filter both cleans and decides, as C4 does: a kept document's `text` and `n_chars` are
replaced by the kept lines joined with newlines, and every removed line is counted under "c4_line:<rule>" in
`counters`, which the chain moves into the stage's Stats.

Rules, in C4's order, per stripped line: citation markers ("[1]", "[edit]", "[citation needed]") are cut out; a line
with a word over `max_word_length` characters, a line that does not end in terminal punctuation (or ends in an
ellipsis), a line with fewer than `min_words_per_line` words, a line that mentions javascript, and a
cookie/privacy-policy line are removed. "lorem ipsum" anywhere drops the page (a template); a curly bracket in a line
that survived the line rules drops it (code). Fewer than `min_num_sentences` sentences left drops it. Sentences are
counted as runs of terminal punctuation followed by a space or the end (C4 used NLTK's Punkt).

Unspaced scripts (see text_view): words are characters, and the longest word is the longest run of characters of
other scripts (a 4,000-character Japanese paragraph has no long word; a URL inside it may). Thai and Lao end
sentences with a space: their lines are not required to end in punctuation, and their sentences are the
space-separated runs of a line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from pipeline.config import AutoCount
from pipeline.document import Document
from pipeline.filters.base import Filter
from pipeline.filters.checks import check_at_least
from pipeline.filters.text_view import (
    TERMINAL_PUNCTUATION,
    line_word_count,
    longest_word,
    sentence_count,
    view_of,
)
from pipeline.stats import DropReason

_SECTION = "filters.c4"
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_SENTENCE_END = re.compile(r"[。！？．｡।؟។៕။།]+|[.!?]+[\"'”“»)]*(?=\s|$)")


@dataclass(kw_only=True)
class C4Config:
    enabled: bool = True
    remove_citations: bool = True
    max_word_length: AutoCount = 1000  # 0 = no limit
    filter_no_terminal_punct: bool = True
    min_words_per_line: AutoCount = 3
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    min_num_sentences: AutoCount = 5

    def __post_init__(self) -> None:
        for name in ("max_word_length", "min_words_per_line", "min_num_sentences"):
            check_at_least(_SECTION, name, getattr(self, name))


class C4Filter(Filter):
    """Drops with "c4:<rule>"; cleans the text of kept documents in place."""

    name: ClassVar[str] = DropReason.C4

    def __init__(self, config: C4Config | None = None) -> None:
        self.config = config or C4Config()
        self.counters: Counter = Counter()  # removed lines per rule, drained by the chain

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        cfg = self.config
        text = doc.text
        view = view_of(doc)
        unspaced = view.unspaced
        needs_punct = cfg.filter_no_terminal_punct and not view.unpunctuated
        # Most pages mention none of the words the slower per-line checks look for: find out once, for the page.
        lower_text = text.lower()
        suspect = (
            (cfg.filter_javascript and "javascript" in lower_text)
            or (cfg.filter_curly_bracket and "{" in text)
            or (cfg.filter_policy and any(phrase in lower_text for phrase in _POLICY))
        )
        if cfg.filter_lorem_ipsum and "lorem ipsum" in lower_text:
            return self._drop("lorem_ipsum")
        removed: Counter = Counter()
        kept: list[str] = []
        for line in map(str.strip, text.split("\n")):
            if not line:
                continue
            if cfg.remove_citations and "[" in line:
                line = _CITATION.sub("", line).strip()
            if cfg.max_word_length and len(line) > cfg.max_word_length and longest_word(line, unspaced) > (
                cfg.max_word_length
            ):
                removed["long_word"] += 1
                continue
            if needs_punct and (not line.endswith(TERMINAL_PUNCTUATION) or line.endswith("...")):
                removed["no_terminal_punct"] += 1
                continue
            if line_word_count(line, unspaced) < cfg.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            if suspect:
                lower = line.lower()
                if cfg.filter_javascript and "javascript" in lower:
                    removed["javascript"] += 1
                    continue
                if cfg.filter_curly_bracket and "{" in line:
                    return self._drop("curly_bracket")
                if cfg.filter_policy and any(phrase in lower for phrase in _POLICY):
                    removed["policy"] += 1
                    continue
            kept.append(line)

        if not kept or not self._enough_sentences(kept, needs_punct, view.unpunctuated):
            return self._drop("too_few_sentences")
        for rule, n in removed.items():
            self.counters[f"c4_line:{rule}"] += n
        cleaned = "\n".join(kept)
        if cleaned != text:
            doc.text = cleaned
            doc.n_chars = len(cleaned)
        return True

    def _enough_sentences(self, lines: list[str], every_line_ends_one: bool, unpunctuated: bool) -> bool:
        wanted = self.config.min_num_sentences
        if every_line_ends_one and len(lines) >= wanted:
            return True  # every kept line ends a sentence
        found = 0
        for line in lines:
            found += sentence_count(line, _SENTENCE_END, unpunctuated)
            if found >= wanted:
                return True
        return found >= wanted
