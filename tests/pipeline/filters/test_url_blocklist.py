import pickle

import pytest

from pipeline.config import ConfigError
from pipeline.filters.url_blocklist import UrlBlocklistConfig, UrlBlocklistFilter
from tests.pipeline.filters.helpers import get_doc

BLOCKLIST = """\
# adult and spam domains
casino-example.com
www.spam.example   # a "www." entry blocks the bare domain too
http://news.example.org/ads/   # only this part of the site
"""


@pytest.fixture
def blocklist(tmp_path):
    path = tmp_path / "blocklist.txt"
    path.write_text(BLOCKLIST)
    return UrlBlocklistFilter(UrlBlocklistConfig(blocklist_path=str(path), banned_url_words=["sex", "viagra"]))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://casino-example.com/", "url_blocklist:domain"),
        ("http://play.eu.casino-example.com/slots?x=1", "url_blocklist:domain"),
        ("https://CASINO-EXAMPLE.COM:8080/", "url_blocklist:domain"),
        ("https://spam.example/a", "url_blocklist:domain"),
        ("https://news.example.org/ads/banner.html", "url_blocklist:url"),
        ("https://www.news.example.org/ads/", "url_blocklist:url"),
        ("https://shop.example.net/buy-viagra-now", "url_blocklist:banned_word"),
        ("https://notcasino-example.com/", None),
        ("https://news.example.org/politics/vote.html", None),
        ("https://www.essex.ac.uk/sussex", None),  # banned words match whole URL tokens, not substrings
    ],
)
def test_urls(blocklist, url, expected):
    assert blocklist(get_doc("text", url=url)) == expected


def test_missing_file_names_the_key(tmp_path):
    missing = UrlBlocklistFilter(UrlBlocklistConfig(blocklist_path=str(tmp_path / "nope.txt")))
    with pytest.raises(ConfigError, match=r"filters\.url_blocklist\.blocklist_path: file not found: .*nope\.txt"):
        missing(get_doc("text"))


def test_bad_banned_word_is_a_config_error():
    with pytest.raises(ConfigError, match=r"filters\.url_blocklist\.banned_url_words"):
        UrlBlocklistConfig(banned_url_words=["two words"])


def test_pickles_as_settings_and_reloads(blocklist):
    blocklist.load()
    clone = pickle.loads(pickle.dumps(blocklist))
    assert clone._domains is None
    assert clone(get_doc("text", url="https://casino-example.com/")) == "url_blocklist:domain"
