"""Structural page features for the web-type classifier, from the tree trafilatura parses (and still extracts from)."""

from __future__ import annotations

import pytest

from pipeline.extract.page_features import PAGE_FEATURE_COLUMNS, PAGE_TYPE_COLUMNS, page_features

FORUM = """<html><head><title> Bikes  forum: chains </title></head><body>
<nav><a href="/">Home</a> <a href="/forum">Forum</a></nav>
<div class="comment-list"><div class="comment">first reply text here</div><div class="Comment">second</div></div>
<div id="comments-2"><p>third reply</p></div>
<form action="/reply"><input name="q"></form>
<ul><li>one</li><li>two</li></ul>
<p>The chain of my bike keeps slipping when I climb steep hills in the rain, what should I check first?</p>
</body></html>"""


def test_features_of_a_forum_page():
    trafilatura = pytest.importorskip("trafilatura")
    from trafilatura.utils import load_html

    tree = load_html(FORUM)
    features = page_features(tree)
    assert list(features) == [name for name, _ in PAGE_FEATURE_COLUMNS]
    assert features["page_title"] == "Bikes forum: chains"
    assert features["page_list_items"] == 2 and features["page_forms"] == 1
    assert features["page_comment_blocks"] == 2  # the outer comment list and #comments-2; nested ones not again
    assert 0.0 < features["page_link_density"] < 0.2
    text = trafilatura.extract(tree)  # the same tree still extracts: one parse for both
    assert "chain of my bike" in text


def test_no_tree_gives_empty_features():
    assert set(page_features(None).values()) == {None}


def test_extractor_keeps_features_and_the_same_text_in_one_parse():
    pytest.importorskip("trafilatura")
    from pipeline.extract.main_text import ExtractConfig, TextExtractor

    plain = TextExtractor(ExtractConfig(page_type=False))
    with_features = TextExtractor(ExtractConfig(page_features=True))
    assert with_features.extract_html(FORUM) == plain.extract_html(FORUM)
    assert plain.last_page_features is None
    assert with_features.last_page_features["page_forms"] == 1
    assert list(with_features.last_page_features) == [name for name, _ in PAGE_FEATURE_COLUMNS + PAGE_TYPE_COLUMNS]


@pytest.mark.parametrize("extractor", ["trafilatura", "fast", "fast:extractor_v2"])
def test_page_type_is_on_every_page_by_default(extractor):
    """The page-type model's label and probability are the page_type columns, on both extractors' pages (the
    untyped extractor_v2 model too), without the structure features unless they are asked for."""
    pytest.importorskip("trafilatura")
    from pipeline.extract.main_text import ExtractConfig, TextExtractor
    from pipeline.extract.page_type import PAGE_TYPES

    extractor, _, model = extractor.partition(":")
    typed = TextExtractor(ExtractConfig(extractor=extractor, fast_model=model))
    text, reason = typed.extract_html(FORUM, None, "https://bikes.example/forum/threads/chains.12/")
    assert reason is None and "chain of my bike" in text
    columns = typed.last_page_features
    assert list(columns) == ["page_type", "page_type_score"] and columns["page_type"] in PAGE_TYPES
    assert 1 / len(PAGE_TYPES) < columns["page_type_score"] <= 1


def test_documents_written_with_page_columns_only_when_asked(tmp_path):
    import pyarrow.parquet as pq

    from pipeline.document import DOCUMENT_COLUMNS, Document, write_documents

    doc = Document("d", "u", "", "", 0, "", "en", 1.0, "text", 4,
                   page={"page_title": "T", "page_link_density": 0.5, "page_list_items": 3, "page_forms": 0,
                         "page_comment_blocks": 1, "page_type": "forum", "page_type_score": 0.75})
    columns = PAGE_FEATURE_COLUMNS + PAGE_TYPE_COLUMNS
    write_documents([doc], str(tmp_path / "with.parquet"), page_columns=columns)
    row = pq.read_table(tmp_path / "with.parquet").to_pylist()[0]
    assert list(row) == [*DOCUMENT_COLUMNS, *(name for name, _ in columns)] and row["page_title"] == "T"
    assert row["page_type"] == "forum" and row["page_type_score"] == 0.75
    doc.page = None
    write_documents([doc], str(tmp_path / "without.parquet"))
    assert pq.read_table(tmp_path / "without.parquet").column_names == list(DOCUMENT_COLUMNS)


@pytest.mark.parametrize("extractor", ["trafilatura", "fast"])
def test_a_page_without_blocks_is_typed_from_its_other_signals(extractor):
    """A Discourse-style thread keeps its posts in an unclosed <noscript>: lexbor finds no blocks (the fast
    extractor hands the page to trafilatura), and the page is still typed, from its URL and title."""
    pytest.importorskip("trafilatura")
    from pipeline.extract.fast import parse_page
    from pipeline.extract.main_text import ExtractConfig, TextExtractor

    posts = "".join(f"<div class='topic-post'><p><b>user{i}</b></p><p>Post {i}: the plugin keeps crashing on start, "
                    "and reinstalling it did not help at all this week.</p></div>" for i in range(5))
    html = ("<html><head><title>Plugin keeps crashing on start - Help - Obsidian Forum</title></head><body>"
            f"<noscript>{posts}</body></html>")
    assert len(parse_page(html)[1]) == 0
    typed = TextExtractor(ExtractConfig(extractor=extractor))
    text, reason = typed.extract_html(html, None, "https://forum.obsidian.example/t/plugin-keeps-crashing/88771")
    assert reason is None and "Post 4:" in text
    assert typed.last_page_features["page_type"] == "forum"
