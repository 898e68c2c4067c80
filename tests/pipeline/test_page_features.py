"""Structural page features for the web-type classifier, from the tree trafilatura parses (and still extracts from)."""

from __future__ import annotations

import pytest

from pipeline.page_features import PAGE_FEATURE_COLUMNS, page_features

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
