"""Tokenization shared by the filters that judge one document, computed once per document on first use.

Every word rule in Sluice splits on whitespace (`str.split`, C speed) instead of running a language-aware tokenizer:
the Gopher and FineWeb thresholds are ratios, and whitespace tokens keep them meaningful for every script that puts
spaces between words. Scripts that do not (Chinese, Japanese, Thai, Lao, Khmer, Burmese, Tibetan) are "unspaced":
there a whitespace token is a whole clause, so filters count characters instead of words where a count is needed,
take the longest run of other characters (a URL or a base64 blob in the text) as the longest word, and skip the rules
that only make sense for words (see each filter's docstring). Thai and Lao also end sentences with a space, not a
punctuation mark, so the rules that look for sentence-ending punctuation do not apply to them.
"""

from __future__ import annotations

import re

from pipeline.document import Document

# lid.176 codes of languages written without spaces between words.
UNSPACED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz", "wuu", "yue", "gan"})
# Han, kana, Thai, Lao, Tibetan, Myanmar, Khmer: used to decide when a document has no language label yet.
_UNSPACED_CHAR = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff]"
)
_UNSPACED_SAMPLE_CHARS = 4000
_UNSPACED_MIN_FRACTION = 0.3
# A word boundary in unspaced text: whitespace, CJK or full-width punctuation, or a character of an unspaced script
# (each is a word of its own).
_UNSPACED_WORD_BREAK = re.compile(_UNSPACED_CHAR.pattern.replace("[", r"[\s\u3000-\u303f\uff00-\uffef", 1) + "+")
# Chinese and Japanese (Han and kana): a character carries about a word (a Chinese word is ~1.5 characters, an
# English one ~6 with its space), so a rule that measures lines in characters needs a smaller bound there. Thai, Lao
# and the other unspaced scripts spell words with several characters each and keep the Latin bounds.
DENSE_LANGS = frozenset({"zh", "ja", "wuu", "yue", "gan"})
_DENSE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Languages (and scripts: Thai, Lao) whose sentences end with a space instead of a punctuation mark.
UNPUNCTUATED_LANGS = frozenset({"th", "lo"})
_UNPUNCTUATED_CHAR = re.compile(r"[\u0e00-\u0eff]")

# Line endings that close a sentence in the scripts we meet most: Latin (with English, German and French closing
# quotes), CJK full-width (and the full-width and half-width full stops), Devanagari, Arabic, Khmer, Myanmar,
# Tibetan. An ellipsis "…" is not one: it marks truncated teasers.
TERMINAL_PUNCTUATION = (".", "!", "?", '"', "”", "“", "»", "。", "！", "？", "」", "』", "．", "｡", "।", "؟",
                        "។", "៕", "။", "།")


class TextView:
    """Words and lines of one text, split lazily: a filter that never needs lines never pays for them."""

    __slots__ = ("_dense", "_lines", "_n_word_chars", "_unpunctuated", "_unspaced", "_words", "lang", "text")

    def __init__(self, text: str, lang: str = "") -> None:
        self.text = text
        self.lang = lang
        self._words: list[str] | None = None
        self._lines: list[str] | None = None
        self._unspaced: bool | None = None
        self._unpunctuated: bool | None = None
        self._dense: bool | None = None
        self._n_word_chars: int | None = None

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = self.text.split()
        return self._words

    @property
    def lines(self) -> list[str]:
        """Non-blank lines, stripped of surrounding whitespace."""
        if self._lines is None:
            self._lines = [line for line in map(str.strip, self.text.split("\n")) if line]
        return self._lines

    @property
    def n_word_chars(self) -> int:
        """Characters that are not whitespace."""
        if self._n_word_chars is None:
            self._n_word_chars = sum(map(len, self.words))
        return self._n_word_chars

    @property
    def unspaced(self) -> bool:
        """True for scripts without spaces between words: the language label decides, else the characters do."""
        if self._unspaced is None:
            self._unspaced = self._labelled_or(
                UNSPACED_LANGS, lambda: _script_share(self.text, _UNSPACED_CHAR) > _UNSPACED_MIN_FRACTION)
        return self._unspaced

    @property
    def unpunctuated(self) -> bool:
        """True for Thai and Lao, which end sentences with a space: the language label decides, else the characters."""
        if self._unpunctuated is None:
            # Thai and Lao are unspaced scripts: a text that is not unspaced (already known to C4) is not either
            self._unpunctuated = self._labelled_or(UNPUNCTUATED_LANGS, lambda: self.unspaced and _script_share(
                self.text, _UNPUNCTUATED_CHAR) > _UNSPACED_MIN_FRACTION)
        return self._unpunctuated

    @property
    def dense(self) -> bool:
        """True for Chinese and Japanese (DENSE_LANGS): the language label decides, else the characters do."""
        if self._dense is None:
            self._dense = self._labelled_or(
                DENSE_LANGS, lambda: self.unspaced and _script_share(self.text, _DENSE_CHAR) > _UNSPACED_MIN_FRACTION)
        return self._dense

    def _labelled_or(self, languages: frozenset, by_script) -> bool:
        """Whether the language label is one of `languages`; without a label, what `by_script()` says."""
        if self.lang and self.lang != "und":
            return self.lang in languages
        return by_script()

    @property
    def n_words(self) -> int:
        """Whitespace words; in unspaced scripts, non-space characters (one Chinese word is about 1.5 of them)."""
        return self.n_word_chars if self.unspaced else len(self.words)


def _script_share(text: str, script_char: re.Pattern) -> float:
    """Share of the non-space characters at the start of `text` that are matched by `script_char`."""
    sample = text[:_UNSPACED_SAMPLE_CHARS]
    n_nonspace = len(sample) - sample.count(" ") - sample.count("\n")
    return len(script_char.findall(sample)) / max(1, n_nonspace)


def line_word_count(line: str, unspaced: bool) -> int:
    """Words of one line, counted the way `TextView.n_words` counts them."""
    return len(line) - line.count(" ") if unspaced else len(line.split())


def longest_word(line: str, unspaced: bool) -> int:
    """Length of the longest word of one line; in unspaced scripts, of the longest run of other characters."""
    return max(map(len, _UNSPACED_WORD_BREAK.split(line) if unspaced else line.split()), default=0)


def sentence_count(line: str, ends: re.Pattern, unpunctuated: bool) -> int:
    """Sentences in one line: runs of sentence-ending punctuation; in Thai and Lao, the space-separated runs."""
    return len(line.split()) if unpunctuated else len(ends.findall(line))


def count_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier one, their characters)."""
    if len(set(items)) == len(items):
        return 0, 0
    seen: set[str] = set()
    n_dup = dup_chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return n_dup, dup_chars


_last_view: TextView | None = None


def view_of(doc: Document) -> TextView:
    """The view of `doc`'s current text; consecutive filters on the same document share one view.

    The cache holds one entry and compares the text by identity, so a filter that replaces `doc.text` (C4) gets a
    fresh view, and a Spark Python worker (one document at a time per process) never mixes two documents.
    """
    global _last_view
    view = _last_view
    if view is None or view.text is not doc.text or view.lang != doc.lang:
        view = _last_view = TextView(doc.text, doc.lang)
    return view
