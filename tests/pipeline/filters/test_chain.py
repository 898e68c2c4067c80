import pickle

import pytest

from pipeline.config import ConfigError, load_toml
from pipeline.filters import FilterChain, FiltersConfig, build_chain
from pipeline.stats import DropReason, Stats
from tests.pipeline.filters.helpers import SENTENCES, get_doc, prose
from tests.pipeline.filters.test_langid import require_lid

# The published thresholds, written out: loading them must give exactly the defaults.
PUBLISHED = """
[filters.lang]
min_score = 0.65
[filters.gopher_quality]
min_doc_words = 50
max_doc_words = 100000
min_avg_word_length = 3
max_avg_word_length = 10
max_symbol_word_ratio = 0.1
max_bullet_lines_ratio = 0.9
max_ellipsis_lines_ratio = 0.3
min_alpha_words_ratio = 0.8
min_stop_words = 2
[filters.gopher_repetition]
max_dup_line_frac = 0.3
max_dup_para_frac = 0.3
max_dup_line_char_frac = 0.2
max_dup_para_char_frac = 0.2
max_top_ngram_char_frac = { 2 = 0.20, 3 = 0.18, 4 = 0.16 }
max_dup_ngram_char_frac = { 5 = 0.15, 6 = 0.14, 7 = 0.13, 8 = 0.12, 9 = 0.11, 10 = 0.10 }
[filters.c4]
min_words_per_line = 3
min_num_sentences = 5
max_word_length = 1000
[filters.fineweb]
min_line_punct_ratio = 0.12
max_short_line_ratio = 0.67
short_line_length = 30
max_dup_line_char_ratio = 0.01
max_newline_word_ratio = 0.3
"""


def _toml(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_published_thresholds_are_the_defaults(tmp_path):
    assert load_toml(FiltersConfig, _toml(tmp_path, PUBLISHED), section="filters") == FiltersConfig()
    assert load_toml(FiltersConfig, None, section="filters") == FiltersConfig()


def test_toml_overrides(tmp_path):
    config = load_toml(FiltersConfig, _toml(tmp_path, '[filters.lang]\nlanguages = ["en", "zh"]\n'
                                                      "[filters.c4]\nenabled = false\n"), section="filters")
    assert config.lang.languages == ["en", "zh"] and config.lang.min_score == 0.65
    assert not config.c4.enabled


@pytest.mark.parametrize(
    "toml, key",
    [
        ("[filters.gopher_quality]\nmin_stop_word = 2\n", "filters.gopher_quality.min_stop_word"),
        ("[filters.fineweb]\nmin_line_punct_ratio = -0.12\n", "filters.fineweb.min_line_punct_ratio"),
        ("[filters.lang]\nmin_score = 'high'\n", "filters.lang.min_score"),
        ("[filters.gopher]\nenabled = true\n", "filters.gopher"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_toml(FiltersConfig, _toml(tmp_path, toml), section="filters")


def _config(tmp_path, lang: bool) -> FiltersConfig:
    (tmp_path / "block.txt").write_text("blocked.example\n")
    config = FiltersConfig()
    config.url_blocklist.blocklist_path = str(tmp_path / "block.txt")
    config.lang.enabled = lang
    return config


def _corpus():
    return [
        get_doc(prose(10) + "\nShare on Facebook"),  # kept, one line removed by C4
        get_doc(prose(10), url="https://www.blocked.example/a"),
        get_doc("Too short to be a page."),
        get_doc("\n".join([SENTENCES[0]] * 8)),
        get_doc(prose(4)),  # passes Gopher, but C4 wants five sentences
        get_doc(prose(10) + "\n" + SENTENCES[0]),  # one repeated line: too little for Gopher, not for FineWeb
    ]


def test_chain_counts_balance_and_name_the_rules(tmp_path):
    stats = Stats(stage="extract")
    kept = list(FilterChain(_config(tmp_path, lang=False)).run(_corpus(), stats))
    assert stats.balanced()
    assert (stats.records_in, stats.records_out) == (6, 1)
    assert kept[0].text == prose(10)
    assert dict(stats.dropped) == {"url_blocklist": 1, "gopher_quality": 1, "gopher_repetition": 1, "c4": 1,
                                   "fineweb": 1}
    assert set(stats.dropped) <= {v for k, v in vars(DropReason).items() if k.isupper()}
    assert stats.counters["url_blocklist:domain"] == 1
    assert stats.counters["gopher_quality:too_few_words"] == 1
    assert stats.counters["gopher_repetition:dup_line_frac"] == 1
    assert stats.counters["c4:too_few_sentences"] == 1
    assert stats.counters["fineweb:dup_line_char_ratio"] == 1
    assert stats.counters["c4_line:no_terminal_punct"] == 1  # "Share on Facebook", from the kept page


def test_disabled_families_do_not_run(tmp_path):
    config = _config(tmp_path, lang=False)
    for family in (config.url_blocklist, config.gopher_quality, config.gopher_repetition, config.c4, config.fineweb):
        family.enabled = False
    stats = Stats()
    assert len(list(build_chain(config).run(_corpus(), stats))) == 6
    assert stats.balanced() and not stats.dropped


@require_lid
def test_chain_scores_language_and_batches_agree(tmp_path):
    config = _config(tmp_path, lang=True)
    config.lang.languages = ["en"]
    german = "Die Bibliothek bleibt wegen Renovierungsarbeiten bis Ende des Monats geschlossen. " * 10
    docs = [*_corpus(), get_doc(german)]
    chain = FilterChain(config)
    one_by_one = [chain.apply(doc) for doc in [get_doc(d.text, url=d.url) for d in docs]]
    stats = Stats()
    assert chain.apply_batch(docs, stats) == one_by_one
    assert one_by_one[-1] == "lang" and stats.counters["lang:not_allowed"] == 1
    assert docs[0].lang == "en" and docs[0].lang_score > 0.65


@require_lid
def test_chain_pickles_after_use(tmp_path):
    chain = FilterChain(_config(tmp_path, lang=True))
    chain.prepare()
    clone = pickle.loads(pickle.dumps(chain))
    assert clone.apply(get_doc(prose(10))) is None
