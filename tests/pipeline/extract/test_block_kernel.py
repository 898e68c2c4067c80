"""The compiled block features against a plain-Python statement of the same features, column by column by name."""

import gzip
import json

import numpy as np

from pipeline.extract.block_kernel import BOILERPLATE_WORDS, N_FEATURES
from pipeline.extract.blocks import (
    ANCESTOR_CLASSES,
    ANCESTOR_TAGS,
    BLOCKS,
    CATEGORY,
    CHARS,
    DEPTH,
    LINK_CHARS,
    N_ANCESTOR_BITS,
    OWN_CLASSES,
    PARENT,
)
from pipeline.extract.fast import FEATURE_NAMES, block_features, parse_blocks
from pipeline.extract.main_text import decode_html
from tests.conftest import shared_data

_BOILERPLATE = frozenset(BOILERPLATE_WORDS)


def reference_features(blocks) -> dict[str, list[float]]:
    """The features, one Python expression each (what block_kernel computes in one pass)."""
    texts, elements = blocks.texts, blocks.elements
    n = len(texts)
    chars = [len(t) for t in texts]
    links = list(blocks.link_chars)
    words = [t.count(" ") + 1 for t in texts]
    total, longest = sum(chars), max(chars)
    density = [links[i] / chars[i] for i in range(n)]
    ends = [t[-1] in ".!?\"'”»)" for t in texts]

    def up(e, steps):
        for _ in range(steps):
            e = e[PARENT] or e
        return e

    def window(values, i, half):
        return sum(values[max(0, i - half):i + half + 1])

    text_blocks = [i for i in range(n) if chars[i] >= 150 and density[i] < 0.3]
    chain = []
    node = elements[chars.index(longest)]
    while node is not None:
        chain.append(node)
        node = node[PARENT]

    def lca(e):
        steps = 0
        while not any(e is c for c in chain) and e[PARENT] is not None:
            e, steps = e[PARENT], steps + 1
        return steps, e[CHARS] / total

    def capitals(t):
        return sum(1 for j, c in enumerate(t) if (j == 0 or t[j - 1] <= " ") and
                   ("A" <= c <= "Z" or 0xC0 <= ord(c) < 0xDF and c != "×" or 0x391 <= ord(c) < 0x3AA
                    or 0x410 <= ord(c) < 0x430))

    columns = {
        "category": [e[CATEGORY] for e in elements], "depth": [e[DEPTH] for e in elements],
        "chars": chars, "words": words, "link_density": density,
        "stops_per_word": [(sum(t.count(s) for s in (". ", "? ", "! ", "。")) + ends[i]) / words[i]
                           for i, t in enumerate(texts)],
        "breaks": blocks.breaks, "is_row": blocks.cells, "pipes": [t.count("|") for t in texts],
        "rel_index": [i / n for i in range(n)], "rel_offset": [sum(chars[:i]) / total for i in range(n)],
        "page_chars": [total] * n, "page_blocks": [n] * n, "page_link_density": [sum(links) / total] * n,
        "share_of_page": [c / total for c in chars], "share_of_longest": [c / longest for c in chars],
        "el_chars": [e[CHARS] for e in elements], "el_share": [e[CHARS] / total for e in elements],
        "el_link_density": [e[LINK_CHARS] / max(e[CHARS], 1) for e in elements],
        "parent_chars": [up(e, 1)[CHARS] for e in elements], "parent_category": [up(e, 1)[CATEGORY] for e in elements],
        "parent_link_density": [up(e, 1)[LINK_CHARS] / max(up(e, 1)[CHARS], 1) for e in elements],
        "grand_share": [up(e, 2)[CHARS] / total for e in elements],
        "great_link_density": [up(e, 3)[LINK_CHARS] / max(up(e, 3)[CHARS], 1) for e in elements],
        "prev_chars": [chars[i - 1] if i else 0 for i in range(n)],
        "next_category": [elements[i + 1][CATEGORY] if i + 1 < n else -1 for i in range(n)],
        "window_link_density": [window(links, i, 2) / max(window(chars, i, 2), 1) for i in range(n)],
        "wide_chars": [window(chars, i, 6) for i in range(n)],
        "before_first_text": [not text_blocks or i < text_blocks[0] for i in range(n)],
        "after_last_text": [not text_blocks or i > text_blocks[-1] for i in range(n)],
        "blocks_to_text": [min((abs(i - j) for j in text_blocks), default=n) for i in range(n)],
        "lca_up": [lca(e)[0] for e in elements], "lca_share": [lca(e)[1] for e in elements],
        "commas_per_word": [(t.count(",") + t.count("，") + t.count("、")) / words[i] for i, t in enumerate(texts)],
        "ends_stop": ends, "first_upper": [t[0].isupper() for t in texts],
        "question": [t[-1] in "?？" for t in texts],
        "next_link_density": [density[i + 1] if i + 1 < n else -1 for i in range(n)],
        "prev_same_element": [i > 0 and elements[i - 1] is elements[i] for i in range(n)],
        "el_blocks": [e[BLOCKS] for e in elements], "parent_blocks": [up(e, 1)[BLOCKS] for e in elements],
        "digit_share": [sum(c.isascii() and c.isdigit() for c in t) / len(t) for t in texts],
        "upper_share": [capitals(t) / words[i] for i, t in enumerate(texts)],
        "boilerplate_words": [len(_BOILERPLATE.intersection(t.lower().split()[:12])) for t in texts],
        "anc_tag_0": [e[ANCESTOR_TAGS] & 1 for e in elements],
        f"anc_tag_{N_ANCESTOR_BITS - 1}": [e[ANCESTOR_TAGS] >> (N_ANCESTOR_BITS - 1) & 1 for e in elements],
        "anc_class_5": [e[ANCESTOR_CLASSES] >> 5 & 1 for e in elements],
        "own_class_15": [e[OWN_CLASSES] >> 15 & 1 for e in elements],
    }
    return columns


def assert_matches_reference(blocks) -> None:
    features = block_features(blocks)
    assert features.shape == (len(blocks), N_FEATURES) == (len(blocks), len(FEATURE_NAMES))
    for name, expected in reference_features(blocks).items():
        np.testing.assert_allclose(features[:, FEATURE_NAMES.index(name)], np.asarray(expected, dtype=np.float64),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


PAGE = (
    "<html><body><div id='site-header' class='navbar'><a href='/'>Home</a> <a href='/x'>Über uns</a></div>"
    "<main class='content'><h1>A title?</h1><p>" + "The river rose, slowly. It rained! " * 8 + "</p>"
    "<p>Ölmühle 1999: 3 Tage, 4 Nächte。 Ende、 ja，</p><ul><li>Share Share comment</li><li>π and Σ 😀</li></ul>"
    "<table><tr><td>a</td><td>b | c</td></tr></table><p>Line one<br>Line two</p></main>"
    "<div class='comment-list'><p>" + "Great post, thanks for writing it. " * 6 + "</p></div></body></html>"
)


def test_features_match_the_plain_python_statement_on_a_crafted_page():
    blocks = parse_blocks(PAGE)
    assert len(blocks) >= 9
    assert_matches_reference(blocks)


def test_boilerplate_words_are_counted_once_each_and_only_among_the_first_twelve():
    blocks = parse_blocks("<body><p>Share share SHARE Kommentare Menü</p><p>"
                          + "word " * 12 + "share</p><p>😀 Copyright ©</p></body>")
    column = block_features(blocks)[:, FEATURE_NAMES.index("boilerplate_words")]
    assert column.tolist() == [3.0, 0.0, 2.0]


def test_one_block_page_and_a_page_without_running_text():
    assert_matches_reference(parse_blocks("<body>just loose text</body>"))
    assert_matches_reference(parse_blocks("<body><ul><li><a href='/'>a</a></li><li>b</li></ul><p>c</p></body>"))


def test_features_match_the_plain_python_statement_on_real_pages():
    root = shared_data("extraction-dev")
    entries = sorted(json.loads((root / "evaldata-dev.json").read_text()).values(), key=lambda e: e["file"])
    checked = 0
    for entry in entries[::10]:
        blocks = parse_blocks(decode_html(gzip.decompress((root / "html" / entry["file"]).read_bytes())) or "")
        if len(blocks):
            assert_matches_reference(blocks)
            checked += 1
    assert checked >= 20


def test_every_feature_is_finite():
    features = block_features(parse_blocks(PAGE))
    assert np.isfinite(features).all(), [FEATURE_NAMES[j] for j in np.flatnonzero(~np.isfinite(features).all(0))]
