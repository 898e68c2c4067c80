import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.filters.gopher_quality import GopherQualityConfig, GopherQualityFilter
from tests.pipeline.filters.helpers import get_doc, prose


def reason(text: str, lang: str = "", **config) -> str | None:
    return GopherQualityFilter(GopherQualityConfig(**config))(get_doc(text, lang=lang))


def test_prose_is_kept():
    assert reason(prose()) is None


def test_word_count_bounds():
    assert reason("The cat sat on the mat and that was all.") == "gopher_quality:too_few_words"
    assert reason(prose(), max_doc_words=100) == "gopher_quality:too_many_words"
    assert reason("") == "gopher_quality:too_few_words"


def test_mean_word_length():
    assert reason(" ".join(["a to of it be the and"] * 20)) == "gopher_quality:short_mean_word_length"
    long_words = " ".join(["internationalisation characteristically the"] * 30)
    assert reason(long_words) == "gopher_quality:long_mean_word_length"


def test_symbol_ratios():
    assert reason(prose() + " #tag" * 20) == "gopher_quality:hash_ratio"
    assert reason(prose() + " etc..." * 30) == "gopher_quality:ellipsis_ratio"


def test_line_shape_ratios():
    bullets = "\n".join("- " + line for line in prose().split("\n"))
    assert reason(bullets) == "gopher_quality:bullet_lines_ratio"
    teasers = "\n".join(line.rstrip(".") + " …" for line in prose().split("\n"))
    assert reason(teasers) == "gopher_quality:ellipsis_lines_ratio"


def test_alpha_words_ratio():
    numbers = prose(3) + " " + " ".join(str(1000 + i) for i in range(60))
    assert reason(numbers) == "gopher_quality:alpha_words_ratio"


def test_stop_words_only_for_english_or_unlabelled():
    no_stop_words = " ".join(["Quick brown foxes jump over lazy dogs near rivers."] * 10)
    assert reason(no_stop_words) == "gopher_quality:too_few_stop_words"
    assert reason(no_stop_words, lang="en") == "gopher_quality:too_few_stop_words"
    assert reason(no_stop_words, lang="de") is None  # German has its own stop words: the English rule is skipped


def test_unspaced_scripts_count_characters():
    chinese = "今天天气很好，我们一起去公园散步，看到了很多美丽的花朵和高大的树木。" * 3
    assert reason(chinese, lang="zh") is None  # three whitespace "words", but about a hundred characters
    assert reason(chinese) is None  # no label: the script decides
    assert reason("今天天气很好。", lang="zh") == "gopher_quality:too_few_words"


@pytest.mark.parametrize(
    "data, key",
    [
        ({"max_symbol_word_ratio": -0.1}, "filters.gopher_quality.max_symbol_word_ratio"),
        ({"min_doc_words": -1}, "filters.gopher_quality.min_doc_words"),
        ({"min_doc_words": 500, "max_doc_words": 100}, "filters.gopher_quality.min_doc_words"),
        ({"min_stop_word": 2}, "min_stop_word"),
    ],
)
def test_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(GopherQualityConfig, data, prefix="filters.gopher_quality")
