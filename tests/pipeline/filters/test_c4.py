import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.filters.c4 import C4Config, C4Filter
from tests.pipeline.filters.helpers import SENTENCES, get_doc, prose


def run(text: str, lang: str = "", **config):
    """(drop reason or None, the document afterwards, removed-line counters)."""
    c4 = C4Filter(C4Config(**config))
    doc = get_doc(text, lang=lang)
    return c4(doc), doc, dict(c4.counters)


def test_clean_prose_is_kept_unchanged():
    text = prose(6)
    reason, doc, removed = run(text)
    assert (reason, doc.text, removed) == (None, text, {})


@pytest.mark.parametrize(
    "line, rule",
    [
        ("Home | About | Contact", "no_terminal_punct"),
        ("Read more...", "no_terminal_punct"),
        ("Subscribe now!", "too_few_words"),
        ("Please enable JavaScript to view the comments.", "javascript"),
        ("By using this site you agree to our privacy policy.", "policy"),
        ("This website uses cookies to improve your experience.", "policy"),
        ("The checksum is " + "f" * 1200 + " as printed.", "long_word"),
    ],
)
def test_line_rules_remove_lines_and_count_them(line, rule):
    reason, doc, removed = run(f"{prose(6)}\n{line}")
    assert reason is None
    assert line not in doc.text
    assert doc.text == prose(6)
    assert doc.n_chars == len(doc.text)
    assert removed == {f"c4_line:{rule}": 1}


def test_citations_are_cut_out_of_lines():
    reason, doc, _ = run(prose(5) + "\nThe mill was built in 1820.[3] It burned down in 1901.[citation needed]")
    assert reason is None
    assert doc.text.endswith("The mill was built in 1820. It burned down in 1901.")


def test_page_rules():
    assert run(prose(6) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.")[0] == "c4:lorem_ipsum"
    assert run(prose(6) + "\nThe function returns {value} when it succeeds.")[0] == "c4:curly_bracket"
    # A curly bracket in a line that the line rules remove anyway does not condemn the page.
    assert run(prose(6) + "\n.menu { color: red }")[0] is None
    assert run(prose(4))[0] == "c4:too_few_sentences"
    assert run(" ".join(SENTENCES[:6]))[0] is None  # six sentences on one line
    assert run("Menu\nLogin\nSearch")[0] == "c4:too_few_sentences"


def test_unspaced_lines_count_characters():
    chinese = "\n".join(["今天天气很好，我们一起去公园散步。", "看到了很多美丽的花朵和高大的树木。"] * 3)
    reason, _, removed = run(chinese + "\n好。", lang="zh", min_num_sentences=3)
    assert reason is None
    assert removed == {"c4_line:too_few_words": 1}


def test_disabled_rules_keep_lines():
    line = "Please enable JavaScript to view the comments."
    reason, doc, _ = run(f"{prose(6)}\n{line}", filter_javascript=False)
    assert reason is None and line in doc.text


@pytest.mark.parametrize("key", ["min_num_sentences", "min_words_per_line", "max_word_length"])
def test_negative_values_name_the_key(key):
    with pytest.raises(ConfigError, match=rf"filters\.c4\.{key}"):
        from_dict(C4Config, {key: -1}, prefix="filters.c4")
