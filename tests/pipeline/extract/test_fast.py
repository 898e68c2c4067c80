"""The fast extractor: blocks from the DOM, the tree kernel, the shipped model on real pages, limits and fallback."""

import gzip
import hashlib
import json
import re
import shutil
import time

import numpy as np
import pytest

from pipeline.config import ConfigError
from pipeline.extract import fast as fast_extract
from pipeline.extract.block_trees import TreeEnsemble, load_ensembles, save_ensembles
from pipeline.extract.blocks import CATEGORY, class_mask, page_blocks
from pipeline.extract.fast import (
    DEFAULT_MODEL,
    DISTILLED_MODEL,
    FEATURE_NAMES,
    BlockModel,
    FastExtractor,
    FastParseError,
    block_features,
    keep_blocks,
    parse_blocks,
)
from pipeline.extract.main_text import FAST_FALLBACK, ExtractConfig, TextExtractor
from pipeline.stats import DropReason, Stats
from tests.conftest import shared_data
from tests.pipeline.extract.responses import response

SENTENCE = "The river rose slowly through the night, and by morning the old mill stood in water to its windows. "
ARTICLE = (
    "<html><head><title>t</title><style>p {color: red}</style></head><body>"
    "<nav class='main-nav'><ul><li><a href='/'>Home</a></li><li><a href='/about'>About us</a></li></ul></nav>"
    "<ul class='menu'><li><a href='/admin'>Admin</a></li></ul><aside><p>Related</p></aside>"
    f"<article class='post-content'><h1>Flood in the valley</h1><p>{SENTENCE * 4}</p>"
    f"<p>{SENTENCE * 3}<br>A second line after a break.</p>"
    "<ul><li>First point of the list</li><li>Second point</li></ul>"
    "<table><tr><td>cell a</td><td>cell <b>b</b></td></tr></table>"
    f"<p>{SENTENCE * 5}</p><script>var x = 'never text';</script></article>"
    "<footer id='footer'><p>Copyright 2024 Example Media. All rights reserved.</p></footer></body></html>"
)
FLOORS = {"with": 0.91, "without": 0.915}  # under the cross-validated means on the card (see test_extractor.py)
LIMIT_S = ExtractConfig().timeout_s


@pytest.fixture(scope="module")
def fast():
    return TextExtractor(ExtractConfig(extractor="fast"))


def test_blocks_follow_the_page():
    blocks = parse_blocks(ARTICLE)
    assert blocks.texts[:2] == ["Admin", "Flood in the valley"] and blocks.texts[2].startswith(SENTENCE.strip())
    assert blocks.texts[3].endswith("windows.\nA second line after a break.")  # <br> is a line break
    assert "| cell a | cell b |" in blocks.texts  # a table row, cells as trafilatura writes them
    assert not any("never text" in t for t in blocks.texts)  # scripts are skipped
    # <nav>, <aside> and <footer> are skipped whole: trafilatura keeps next to none of their text
    assert not any(t in ("Home", "About us", "Related") or "Copyright" in t for t in blocks.texts)
    categories = [e[CATEGORY] for e in blocks.elements]
    assert categories[0] == categories[4] == 3  # list items
    assert blocks.link_chars[0] == len("Admin") and blocks.link_chars[1] == 0


def test_class_and_id_words():
    assert class_mask("site-footer") == class_mask("footer") != 0
    assert class_mask("commentList") & class_mask("comment-body")  # camelCase splits into words
    assert class_mask("xyzzy") == 0
    assert class_mask("header") != class_mask("reader")  # stems match at a word's start only


def test_features_have_one_column_per_name_and_no_nan():
    features = block_features(parse_blocks(ARTICLE))
    assert features.shape[1] == len(FEATURE_NAMES) and features.dtype == np.float32
    assert np.isfinite(features).all()


def test_tree_kernel_matches_a_hand_built_ensemble(tmp_path):
    # one tree: x0 <= 0.5 ? (x1 <= 2 ? -1 : 1) : 3
    dump = {"tree_info": [{"tree_structure": {
        "split_feature": 0, "threshold": 0.5, "decision_type": "<=", "default_left": True,
        "left_child": {"split_feature": 1, "threshold": 2.0, "decision_type": "<=", "default_left": False,
                       "left_child": {"leaf_value": -1.0}, "right_child": {"leaf_value": 1.0}},
        "right_child": {"leaf_value": 3.0}}}, {"tree_structure": {"leaf_value": 0.5}}]}
    trees = TreeEnsemble.from_lightgbm(dump)
    x = np.array([[0.1, 1.0], [0.1, 5.0], [0.9, 0.0], [np.nan, 5.0]], dtype=np.float32)
    assert trees.raw_scores(x).tolist() == [-0.5, 1.5, 3.5, 1.5]  # NaN follows default_left
    save_ensembles(tmp_path / "m.npz", {"first": trees})
    assert load_ensembles(tmp_path / "m.npz")["first"].raw_scores(x).tolist() == [-0.5, 1.5, 3.5, 1.5]
    with pytest.raises(ValueError, match="out of range"):
        TreeEnsemble({**{k: getattr(trees, k) for k in ("feature", "threshold", "value", "default_left", "roots")},
                      "left": trees.left + 10, "right": trees.right})
    with pytest.raises(ValueError, match="categorical"):
        TreeEnsemble.from_lightgbm({"tree_info": [{"tree_structure": {
            "split_feature": 0, "threshold": "1||2", "decision_type": "==", "left_child": {"leaf_value": 0},
            "right_child": {"leaf_value": 1}}}]})


@pytest.mark.parametrize("threshold", [0.1, 1 / 3, -0.7, 2.0, 1e300, -1e300, 16777217.0])
def test_float32_thresholds_split_exactly_as_the_float64_ones(threshold):
    """The kernel compares in float32; a float32 feature must go where LightGBM's double comparison sends it."""
    trees = TreeEnsemble.from_lightgbm({"tree_info": [{"tree_structure": {
        "split_feature": 0, "threshold": threshold, "decision_type": "<=", "default_left": True,
        "left_child": {"leaf_value": 1.0}, "right_child": {"leaf_value": 0.0}}}]})
    nearest = np.float32(threshold) if abs(threshold) < 1e38 else np.float32(np.sign(threshold) * 3e38)
    values = [nearest, np.nextafter(nearest, np.float32(-np.inf)), np.nextafter(nearest, np.float32(np.inf)),
              np.float32(0), np.float32(1)]
    x = np.array(values, dtype=np.float32)[:, None]
    assert trees.raw_scores(x).tolist() == [1.0 if float(v) <= threshold else 0.0 for v in x[:, 0]]


def test_article_keeps_its_text_and_drops_the_chrome(fast):
    text, reason = fast.extract(response(ARTICLE.encode()))
    assert reason is None
    assert SENTENCE.strip() in text and "A second line after a break." in text
    assert "About us" not in text and "Copyright" not in text


def test_shipped_model_on_real_pages():
    """Every extraction-dev page through the shipped distilled model (extractor_v2). It was trained on these pages,
    so its rates here are above the cross-validated ones; the floors sit under the cross-validated means (its card).
    (extractor_v3 never saw these pages: with 0.957, without 0.863. The default, extractor_v4, trained on them; its
    by-domain cross-validation on its card: with 0.932, without 0.935.)"""
    root = shared_data("extraction-dev")
    annotations = json.loads((root / "evaldata-dev.json").read_text())
    extractor = TextExtractor(ExtractConfig(extractor="fast", fast_model="extractor_v2"))
    found = absent = total = 0
    for url, entry in sorted(annotations.items()):
        body = gzip.decompress((root / "html" / entry["file"]).read_bytes())
        text, _reason = extractor.extract_html(body, None, url.split("::")[-1])
        text = re.sub(r"\s+", " ", text or "")
        found += sum(bool(text) and re.sub(r"\s+", " ", s).strip() in text for s in entry["with"])
        absent += sum(not (text and re.sub(r"\s+", " ", s).strip() in text) for s in entry["without"])
        total += len(entry["with"])
    assert found / total >= FLOORS["with"] and absent / total >= FLOORS["without"], (found / total, absent / total)
    # parcoabruzzo.it opens its body with an unclosed <noscript>: lexbor puts the whole page inside it, the walk
    # (which skips <noscript>) finds no block, and trafilatura takes the page
    assert extractor.fast_fallbacks == 1


def test_a_page_without_blocks_falls_back_to_trafilatura_and_is_counted():
    stats = Stats()
    extractor = TextExtractor(ExtractConfig(extractor="fast"), stats)
    body = ARTICLE.replace("<body>", "<body><noscript><div id='nojs'></noscript>", 1).encode()
    assert len(parse_blocks(body.decode())) == 0
    text, reason = extractor.extract(response(body))
    assert reason is None and SENTENCE.strip() in text
    assert stats.counters[FAST_FALLBACK] == 1 and extractor.fast_fallbacks == 1


def test_ruby_readings_stay_out_of_the_words_they_annotate():
    blocks = parse_blocks("<body><p><ruby>子<rp>(</rp><rt>こ</rt><rp>)</rp></ruby>どもへの"
                          "<ruby>虐待<rt>ぎゃくたい</rt></ruby>が増えています。</p></body>")
    assert blocks.texts == ["子どもへの虐待が増えています。"]


def test_parse_failure_falls_back_to_trafilatura_and_is_counted(monkeypatch):
    stats = Stats()
    extractor = TextExtractor(ExtractConfig(extractor="fast"), stats)

    def unparseable(html):
        raise FastParseError("no <body> after parsing")

    monkeypatch.setattr(fast_extract, "parse_page", unparseable)
    text, reason = extractor.extract(response(ARTICLE.encode()))
    assert reason is None and SENTENCE.strip() in text  # trafilatura's extraction
    assert text == TextExtractor().extract(response(ARTICLE.encode()))[0]
    assert stats.counters[FAST_FALLBACK] == 1 and extractor.fast_fallbacks == 1


def test_ten_thousand_nested_divs_are_too_complex(fast):
    body = ("<html><body>" + "<div>" * 10_000 + f"<p>{SENTENCE}</p>" + "</div>" * 10_000 + "</body></html>").encode()
    started = time.process_time()
    _text, reason = fast.extract(response(body))
    assert time.process_time() - started < LIMIT_S
    assert reason == DropReason.TOO_COMPLEX  # past pipeline.extract.nesting.MAX_DEPTH: no parser sees it


def test_size_limit_holds_on_the_fast_path(fast):
    body = ("<html><body>" + f"<p>{SENTENCE}</p>" * (6_000_000 // len(SENTENCE))).encode()
    assert fast.extract(response(body)) == (None, DropReason.TOO_LARGE)


def test_time_limit_holds_on_the_fast_path():
    body = ("<html><body><article>" + f"<p>{SENTENCE}</p>" * (20_000_000 // len(SENTENCE)) + "</article>").encode()
    started = time.process_time()
    result = TextExtractor(ExtractConfig(extractor="fast", max_body_bytes=30_000_000, timeout_s=0.3)).extract(
        response(body))
    assert result == (None, DropReason.TIMEOUT)
    assert time.process_time() - started < LIMIT_S  # lexbor's parse of 20 MB is the part a signal cannot cut


def test_empty_and_garbage_pages(fast):
    assert fast.extract(response(b"")) == (None, DropReason.EMPTY_TEXT)
    # nothing but a <nav>: no block for the fast path, so the page is trafilatura's to judge
    nav_only = response(b"<html><body><nav><a href=/>x</a></nav></body></html>")
    before = fast.fast_fallbacks
    assert fast.extract(nav_only) == TextExtractor().extract(nav_only) and fast.fast_fallbacks == before + 1


def test_config_is_validated():
    with pytest.raises(ConfigError, match="extractor"):
        ExtractConfig(extractor="readability")


def test_model_must_match_its_card(tmp_path):
    assert BlockModel().threshold == BlockModel(DEFAULT_MODEL).threshold
    shutil.copy(DISTILLED_MODEL, tmp_path / "m.npz")
    card = json.loads(DISTILLED_MODEL.with_suffix(".json").read_text())
    (tmp_path / "m.json").write_text(json.dumps({**card, "sha256": hashlib.sha256(b"other").hexdigest()}))
    with pytest.raises(ValueError, match="sha256"):
        FastExtractor(tmp_path / "m.npz")
    (tmp_path / "m.json").write_text(json.dumps({**card, "features": card["features"][:-1]}))
    with pytest.raises(ValueError, match="features"):
        FastExtractor(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="not found"):
        FastExtractor(tmp_path / "missing.npz")


def test_blocks_of_a_body_less_document():
    from selectolax.lexbor import LexborHTMLParser

    assert len(page_blocks(LexborHTMLParser("plain words, no markup").body)) == 1


def test_relative_threshold_keeps_the_best_blocks_of_an_unsure_page():
    sure, unsure = np.array([0.9, 0.2, 0.6]), np.array([0.45, 0.3, 0.1, 0.4])
    assert keep_blocks(sure, 0.5).tolist() == keep_blocks(sure, 0.5, 0.6).tolist() == [True, False, True]
    assert not keep_blocks(unsure, 0.5).any()
    assert keep_blocks(unsure, 0.5, 0.6).tolist() == [True, True, False, True]  # from 0.6 x 0.45 = 0.27
    assert keep_blocks(np.zeros(0), 0.5, 0.6).tolist() == []
