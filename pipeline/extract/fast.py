"""The fast extractor: lexbor parse → text blocks → structural features → boosted trees keep or drop each block.

Three shipped models (package data, scored by pipeline/extract/block_trees.py, each with its JSON card):
- extractor_v4 (default): trained on real annotations, the WCXB dev pages' full main content (a block is content
  when its words are in it; classifiers/extractor_wcxb.py) plus extraction-dev (trafilatura's labels overridden by
  its with/without snippets), typed (the page-type model page_type_v1, pipeline/extract/page_type.py, gives each
  page its 7 type probabilities, which every block reads as features), in two passes (the second reads the first
  pass's scores around each block), with its own keep setting for pages typed article.
- extractor_v3: the same on WCXB alone, one pass, one setting. `[extract] fast_model = "extractor_v3"`.
- extractor_v2: distilled from trafilatura(favor_precision) with the extraction-dev annotations on top
  (classifiers/extractor.py); news-style articles only. `[extract] fast_model = "extractor_v2"` selects it.
A block is kept when it scores at least the card's threshold, or relative_threshold x the page's best score when that
is lower (keep_blocks); a card's `type_thresholds` {type: [threshold, relative]} replace both on pages of that
predicted type.

Output has trafilatura's txt form: one block per line, list items as "- item", table rows as "| a | b |".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pipeline.extract.blocks import (
    BLOCK_CATEGORY,
    CATEGORY,
    N_ANCESTOR_BITS,
    N_CLASS_BITS,
    PARENT_INDEX,
    PageBlocks,
    page_blocks,
)

DEFAULT_MODEL = Path(__file__).resolve().parent / "data" / "extractor_v4.npz"
DISTILLED_MODEL = DEFAULT_MODEL.with_name("extractor_v2.npz")  # distilled from trafilatura, no page types
SHIPPED_MODELS = ("extractor_v4", "extractor_v3", "extractor_v2")  # names `[extract] fast_model` accepts besides paths
MODEL_KIND = "extractor"
_LI = BLOCK_CATEGORY["li"]
# Chosen by measurement (5-fold CV on extraction-dev): dates, mean word length and lower-case shares moved the
# snippet rates by less than their noise; the character-class shares and the boilerplate words are worth ~0.01 of
# "with" found, so they stay. Computed by pipeline/extract/block_kernel.py, in this order.
NUMERIC_FEATURES = (
    "category", "depth", "chars", "words", "link_density", "stops_per_word", "breaks", "is_row", "pipes",
    "rel_index", "rel_offset", "page_chars", "page_blocks", "page_link_density", "share_of_page", "share_of_longest",
    "el_chars", "el_link_density", "el_share", "parent_chars", "parent_link_density", "parent_share",
    "parent_category", "grand_share", "grand_link_density", "great_share", "great_link_density", "prev_chars",
    "prev_category", "next_chars", "next_category", "window_link_density", "window_chars", "wide_link_density",
    "wide_chars", "before_first_text", "after_last_text", "blocks_to_text", "lca_up", "lca_share",
    "commas_per_word", "ends_stop", "first_upper", "question", "prev_link_density", "next_link_density",
    "prev_same_element", "next_same_element", "el_blocks", "parent_blocks", "digit_share", "punct_share",
    "upper_share", "boilerplate_words",
)
FEATURE_NAMES = (
    NUMERIC_FEATURES
    + tuple(f"anc_tag_{i}" for i in range(N_ANCESTOR_BITS))
    + tuple(f"anc_class_{i}" for i in range(N_CLASS_BITS))
    + tuple(f"own_class_{i}" for i in range(N_CLASS_BITS))
)

# A typed model (extractor_v3/v4, trained on WCXB) also reads the page type probabilities (pipeline/extract/page_type):
# a forum's posts, a product's description and a listing's cards are content on their pages and clutter elsewhere.
TYPE_FEATURES = ("type_article", "type_forum", "type_product", "type_collection", "type_listing",
                 "type_documentation", "type_service")
TYPED_FEATURE_NAMES = FEATURE_NAMES + TYPE_FEATURES


def with_page_type(features: np.ndarray, type_probabilities: np.ndarray) -> np.ndarray:
    """The block features with the page's type probabilities as the same extra columns on every block."""
    extra = np.broadcast_to(np.asarray(type_probabilities, np.float32), (len(features), len(TYPE_FEATURES)))
    return np.hstack([features, extra])


# The second pass sees the first pass's scores around each block: running text is contiguous, boilerplate too.
CONTEXT_FEATURES = (
    "first_score", "prev_score", "next_score", "window_score", "wide_score", "page_max_score", "page_mean_score",
    "element_score", "parent_score", "score_rank",
)


class FastParseError(Exception):
    """The fast parser could not make a page out of these bytes; the caller falls back to trafilatura."""


def parse_page(html: str):
    """(lexbor tree, its blocks); FastParseError when lexbor fails or there is no <body>."""
    from selectolax.lexbor import LexborHTMLParser

    try:
        tree = LexborHTMLParser(html)
        body = tree.body
    except Exception as e:  # noqa: BLE001 - any parser failure means: let trafilatura try this page
        raise FastParseError(f"lexbor failed: {e}") from e
    if body is None:
        raise FastParseError("no <body> after parsing")
    try:
        return tree, page_blocks(body)
    except RecursionError as e:  # the walk recurses per element; extract's nesting bound makes this rare
        raise FastParseError("nested too deep for the block walk") from e


def parse_blocks(html: str) -> PageBlocks:
    return parse_page(html)[1]


def _shift(values: np.ndarray, by: int, fill: float) -> np.ndarray:
    out = np.full_like(values, fill)
    if by > 0:
        out[by:] = values[:-by]
    else:
        out[:by] = values[-by:]
    return out


def _window_sum(values: np.ndarray, half: int = 2) -> np.ndarray:
    """Sum over the block and its `half` neighbours on each side (fewer at the page's ends)."""
    cumulative = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
    index = np.arange(len(values))
    high = np.minimum(index + half + 1, len(values))
    low = np.maximum(index - half, 0)
    return (cumulative[high] - cumulative[low]).astype(np.float32)


def block_features(blocks: PageBlocks) -> np.ndarray:
    """(blocks × FEATURE_NAMES) float32 matrix; category columns hold BLOCK_CATEGORY codes (-1 = none)."""
    from pipeline.extract import block_kernel

    return block_kernel.block_features(blocks.texts, blocks.link_chars, blocks.breaks, blocks.cells,
                                       blocks.element_ids, blocks.element_table())


def _group_mean(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return (np.bincount(groups, weights=values) / np.maximum(np.bincount(groups), 1))[groups]


def context_features(first: np.ndarray, blocks: PageBlocks) -> np.ndarray:
    """(blocks × CONTEXT_FEATURES): the first pass's score of each block and of its neighbourhood."""
    n = len(first)
    ones = np.ones(n)
    elements = np.asarray(blocks.element_ids, dtype=np.int64)
    parents = blocks.element_table()[:, PARENT_INDEX][elements]
    return np.stack([
        first, _shift(first, 1, -1), _shift(first, -1, -1),
        _window_sum(first) / _window_sum(ones), _window_sum(first, 6) / _window_sum(ones, 6),
        np.full(n, first.max()), np.full(n, first.mean()),
        _group_mean(first, elements), _group_mean(first, parents),
        np.argsort(np.argsort(-first, kind="stable"), kind="stable") / n,
    ], axis=1).astype(np.float32)


def block_scores(ensembles: dict, features: np.ndarray, blocks: PageBlocks) -> np.ndarray:
    """P(content) per block: the "first" trees on the block features, then (when present) the "second" trees on
    those features plus the first pass's context."""
    scores = ensembles["first"].probabilities(features)
    second = ensembles.get("second")
    if second is not None:
        scores = second.probabilities(np.hstack([features, context_features(scores, blocks)]))
    return scores


def keep_blocks(scores: np.ndarray, threshold: float, relative: float = 0.0) -> np.ndarray:
    """Blocks scoring >= threshold; with relative > 0 the bar is at most relative x the page's best score, so a page
    the trees are unsure of everywhere still yields its best blocks instead of nothing."""
    if relative > 0 and len(scores):
        threshold = min(threshold, relative * float(scores.max()))
    return scores >= threshold


def blocks_to_text(blocks: PageBlocks, keep) -> str:
    """The kept blocks in page order, in trafilatura's txt form."""
    lines = []
    table = blocks.table
    for text, element, kept in zip(blocks.texts, blocks.element_ids, keep, strict=True):
        if kept:
            lines.append("- " + text if table[element][CATEGORY] == _LI else text)
    return "\n".join(lines)


def _model_bytes(path: str | Path | None) -> tuple[bytes, bytes, str]:
    """(model, card, name): a path, or the shipped default read as package data (inside a zip on executors)."""
    if path is None or str(path) in SHIPPED_MODELS:
        from importlib.resources import files

        model = DEFAULT_MODEL if path is None else DEFAULT_MODEL.with_name(f"{path}.npz")
        data = files("pipeline.extract") / "data"
        card = (data / model.with_suffix(".json").name).read_bytes()
        return (data / model.name).read_bytes(), card, f"pipeline/extract/data/{model.name}"
    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise FileNotFoundError(f"extractor model {path} or its card {card_path.name} not found")
    return path.read_bytes(), card_path.read_bytes(), str(path)


class BlockModel:
    """The content/boilerplate trees and their decision threshold: a .npz tree ensemble plus its JSON card.

    The card must match the file (size, sha256) and these features, so a stale or foreign model is refused with a
    message instead of scoring garbage.
    """

    def __init__(self, path: str | Path | None = None):
        import io

        from pipeline.extract.block_trees import load_ensembles

        data, card_bytes, self.path = _model_bytes(path)
        card = json.loads(card_bytes)
        features = tuple(card.get("features", ()))
        if (card.get("kind") != MODEL_KIND or features not in (FEATURE_NAMES, TYPED_FEATURE_NAMES)
                or tuple(card.get("context_features", ())) != CONTEXT_FEATURES):
            raise ValueError(f"{self.path}: its card is not an extractor card for these features")
        if card.get("bytes") != len(data) or card.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ValueError(f"{self.path}: size or sha256 differs from its card")
        self.card = card
        self.threshold = float(card["threshold"])
        self.relative_threshold = float(card.get("relative_threshold", 0.0))
        self.type_thresholds = {t: (float(a), float(b)) for t, (a, b) in card.get("type_thresholds", {}).items()}
        self.ensembles = load_ensembles(io.BytesIO(data))
        if "first" not in self.ensembles:
            raise ValueError(f"{self.path}: no 'first' tree ensemble")
        self.page_types = None  # the page-type model a typed block model reads (named on its card, beside it)
        if features == TYPED_FEATURE_NAMES:
            from pipeline.extract.page_type import PageTypeModel

            name = card.get("page_type_model", "")
            shipped = path is None or str(path) in SHIPPED_MODELS
            self.page_types = PageTypeModel(None if shipped else Path(path).parent / name)

    def scores(self, features: np.ndarray, blocks: PageBlocks) -> np.ndarray:
        """P(block is content) per block."""
        return block_scores(self.ensembles, features, blocks)


class FastExtractor:
    """`extract(html) -> text` ('' when no block is content); raises FastParseError when the page does not parse
    or has no text blocks (the caller then asks trafilatura)."""

    def __init__(self, model_path: str | Path | None = None):
        self.model = BlockModel(model_path or None)
        self.last_page_type: str | None = None
        self.last_page_type_score = 0.0  # its probability
        # Compile the kernels (block features, tree scoring) now, outside any page's time limit.
        self.extract("<html><body><div><p>Warm-up text, long enough to be a block of running text, with a "
                     "<a href='#'>link</a>.</p><ul><li>item</li></ul></div></body></html>")

    def extract(self, html: str, url: str | None = None) -> str:
        """The page's main text; `last_page_type` is then its most likely type (None without a typed model) and
        `last_page_type_score` that type's probability."""
        from pipeline.extract.page_type import page_signals, top_type

        self.last_page_type, self.last_page_type_score = None, 0.0
        tree, blocks = parse_page(html)
        if not len(blocks):  # e.g. an unclosed <noscript> around the whole body: let trafilatura look
            raise FastParseError("no text blocks")
        features = block_features(blocks)
        if self.model.page_types is not None:
            types = self.model.page_types.probabilities(page_signals(html, url, tree, blocks, features))[0]
            self.last_page_type, self.last_page_type_score = top_type(types)
            features = with_page_type(features, types)
        scores = self.model.scores(features, blocks)
        threshold, relative = self.model.type_thresholds.get(
            self.last_page_type, (self.model.threshold, self.model.relative_threshold))
        return blocks_to_text(blocks, keep_blocks(scores, threshold, relative))
