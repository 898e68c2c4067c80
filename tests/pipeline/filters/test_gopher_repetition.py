import random
from collections import Counter

import numpy as np
import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.filters.gopher_repetition import (
    GopherRepetitionConfig,
    GopherRepetitionFilter,
    _duplicated_ngram_chars,
    _top_ngram_chars,
)
from tests.pipeline.filters.helpers import SENTENCES, get_doc, prose


def reason(text: str, lang: str = "", **config) -> str | None:
    return GopherRepetitionFilter(GopherRepetitionConfig(**config))(get_doc(text, lang=lang))


def test_prose_is_kept():
    assert reason(prose()) is None
    assert reason(prose(per_line=3)) is None


def test_duplicate_paragraphs():
    paragraphs = [SENTENCES[0]] * 5 + SENTENCES[1:6]
    assert reason("\n\n".join(paragraphs)) == "gopher_repetition:dup_para_frac"
    long_paragraph = " ".join(SENTENCES[:6])
    short = [f"Short note number {i} is here." for i in range(8)]
    assert reason("\n\n".join([long_paragraph, *short, long_paragraph])) == "gopher_repetition:dup_para_char_frac"


def test_duplicate_lines():
    # Every paragraph is unique, but one line recurs in most of them.
    paragraphs = [f"{SENTENCES[i]}\nShare this article with your friends." for i in range(10)]
    assert reason("\n\n".join(paragraphs)) == "gopher_repetition:dup_line_frac"
    long_line = " ".join(SENTENCES[:6])
    paragraphs = [f"{long_line}\nFirst note.", *[f"Note {i} here." for i in range(8)], f"Last note.\n{long_line}"]
    assert reason("\n\n".join(paragraphs)) == "gopher_repetition:dup_line_char_frac"


def _with_recurring(ngram: str, filler_words: int, times: int = 20) -> str:
    """`ngram` again and again, separated by distinct filler words, all on one line."""
    words = []
    for i in range(times):
        words.append(ngram)
        words.extend(f"f{i}x{j}" for j in range(filler_words))
    return " ".join(words)


def test_top_ngrams():
    assert reason(_with_recurring("alpha beta", 2)) == "gopher_repetition:top_2_gram"
    # "a b" alone covers too little to fail; "a b c" covers more than 18%.
    assert reason(_with_recurring("a b c", 2)) == "gopher_repetition:top_3_gram"


def test_duplicate_ngrams():
    passage = " ".join(SENTENCES[1].split()[:8])
    text = " ".join([prose(4, per_line=4), passage, SENTENCES[5], passage, SENTENCES[6], passage])
    assert reason(text) == "gopher_repetition:dup_5_gram"
    assert reason(text, max_top_ngram_char_frac={}, max_dup_ngram_char_frac={"10": 0.1}) is None
    long_passage = " ".join(SENTENCES[1].split()[:12])
    text = " ".join([prose(4, per_line=4), long_passage, SENTENCES[5], long_passage, SENTENCES[6], long_passage])
    assert reason(text, max_dup_ngram_char_frac={"10": 0.1}) == "gopher_repetition:dup_10_gram"


def test_unspaced_scripts_skip_ngram_rules_but_not_line_rules():
    chinese = "我们一起去公园 散步 我们一起去公园 散步 " * 20
    assert reason(chinese, lang="zh") is None
    assert reason(chinese, lang="en") == "gopher_repetition:top_2_gram"
    assert reason("\n".join(["同一行文字重复出现。"] * 5), lang="zh") == "gopher_repetition:dup_line_frac"


def _naive_duplicated_chars(words: list[str], n: int) -> int:
    seen, covered = set(), set()
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if gram in seen:
            covered.update(range(i, i + n))
        seen.add(gram)
    return sum(len(words[i]) for i in covered)


def _naive_top_chars(words: list[str], n: int) -> int:
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    top = max(counts.values())
    return 0 if top < 2 else top * max(len("".join(g)) for g, c in counts.items() if c == top)


def test_vectorized_ngram_counts_match_a_plain_implementation():
    rng = random.Random(7)
    vocab = ["a", "bb", "ccc", "dddd", "river", "mill", "the", "of"]
    for _ in range(50):
        words = [rng.choice(vocab) for _ in range(rng.randint(12, 120))]
        word_hash = np.array([hash(w) for w in words], dtype=np.int64).view(np.uint64)
        word_len = np.array([len(w) for w in words])
        chars_before = np.concatenate(([0], np.cumsum(word_len)))
        ngram_hash = word_hash
        for n in range(2, 8):
            ngram_hash = ngram_hash[:-1] * np.uint64(0x9E3779B97F4A7C15) + word_hash[n - 1 :]
            assert _duplicated_ngram_chars(ngram_hash, word_len, n) == _naive_duplicated_chars(words, n)
            assert _top_ngram_chars(ngram_hash, chars_before[n:] - chars_before[:-n]) == _naive_top_chars(words, n)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"max_dup_line_frac": 1.5}, "filters.gopher_repetition.max_dup_line_frac"),
        ({"max_dup_ngram_char_frac": {"1": 0.1}}, "filters.gopher_repetition.max_dup_ngram_char_frac.1"),
        ({"max_top_ngram_char_frac": {"two": 0.1}}, "filters.gopher_repetition.max_top_ngram_char_frac.two"),
        ({"max_top_ngram_char_frac": {"2": -0.2}}, "filters.gopher_repetition.max_top_ngram_char_frac.2"),
    ],
)
def test_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(GopherRepetitionConfig, data, prefix="filters.gopher_repetition")
