import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.filters.fineweb import FineWebConfig, FineWebFilter
from tests.pipeline.filters.helpers import SENTENCES, get_doc, prose


def reason(text: str, **config) -> str | None:
    return FineWebFilter(FineWebConfig(**config))(get_doc(text))


def test_prose_is_kept():
    assert reason(prose()) is None


def test_line_punctuation_ratio():
    headings = "\n".join(f"{s.rstrip('.')} and more" for s in SENTENCES)
    assert reason(headings) == "fineweb:line_punct_ratio"
    assert reason(headings, line_punct_exclude_zero=True) is None


def test_short_line_ratio():
    menu = "\n".join([*(f"Section {i}." for i in range(20)), prose(3)])
    assert reason(menu) == "fineweb:short_line_ratio"


def test_duplicate_line_chars():
    assert reason(prose() + "\n" + SENTENCES[0]) == "fineweb:dup_line_char_ratio"


def test_newlines_per_word():
    # Long enough lines, all punctuated and distinct, but only two words each: a list, not prose.
    listing = "\n\n".join(f"Item-number-{i:03d}-of-the-catalogue is available." for i in range(20))
    assert reason(listing) == "fineweb:list_ratio"


def test_empty_text():
    assert reason(" \n \n") == "fineweb:empty"


@pytest.mark.parametrize(
    "data, key",
    [({"max_short_line_ratio": 2}, "max_short_line_ratio"), ({"short_line_length": -5}, "short_line_length"),
     ({"short_line_length_dense": -1}, "short_line_length_dense")],
)
def test_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=rf"filters\.fineweb\.{key}"):
        from_dict(FineWebConfig, data, prefix="filters.fineweb")
