"""The fast extractor: lexbor parse → text blocks → structural features → boosted trees keep or drop each block.

The trees were distilled from trafilatura(favor_precision): a block is "content" when trafilatura keeps its text
(classifiers/extractor.py trains them: `sluice classifiers train extractor`). The default model ships as package
data (pipeline/data/extractor_v1.npz, scored by pipeline/block_trees.py, with its card extractor_v1.json), so the
stage needs no training step.

Output has trafilatura's txt form: one block per line, list items as "- item", table rows as "| a | b |".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pipeline.blocks import (
    ANCESTOR_CLASSES,
    ANCESTOR_TAGS,
    BLOCK_CATEGORY,
    BLOCKS,
    CATEGORY,
    CHARS,
    DEPTH,
    LINK_CHARS,
    N_ANCESTOR_BITS,
    N_CLASS_BITS,
    OWN_CLASSES,
    PARENT,
    PageBlocks,
    page_blocks,
)

DEFAULT_MODEL = Path(__file__).resolve().parent / "data" / "extractor_v1.npz"
MODEL_KIND = "extractor"
_STOPS = frozenset(".!?\"'”»)")
_LI = BLOCK_CATEGORY["li"]
# Words of page furniture in the dev set's languages and the web's at large (en, de, fr, es, it, nl, pl): sharing,
# comments, accounts, legal, navigation, ratings. Whole words, lowercased.
_BOILERPLATE_SET = frozenset("""
share teilen partager compartir condividi delen udostępnij tweet facebook twitter whatsapp linkedin pinterest
instagram youtube e-mail email mail print drucken comment comments kommentar kommentare commentaire commentaires
comentario comentarios commento commenti reageer komentarz komentarze reply antworten répondre responder login
anmelden registrieren register connexion subscribe abonnieren newsletter abonner suscríbete iscriviti cookie cookies
datenschutz privacy impressum imprint copyright © disclaimer terms agb kontakt contact home startseite accueil inicio
menu menü search suche recherche buscar cerca zoeken szukaj weiterlesen mehr more next previous zurück weiter
suivant précédent siguiente anterior related ähnliche tags schlagwörter kategorie kategorien category categories
posted veröffentlicht publié publicado pubblicato geplaatst opublikowano author autor auteur autore like gefällt
rating bewertung bewertungen stimmen votes anzeige werbung advertisement publicité publicidad sponsored click klicken
hier here ici aquí qui download herunterladen top back
""".split())
# Code point classes for _char_classes: 1 digit, 2 punctuation, 3 capital (Latin, Greek, Cyrillic ranges), 0 other
_CLASS_TABLE_SIZE = 0x0530
_CHAR_CLASS = np.zeros(_CLASS_TABLE_SIZE, dtype=np.uint8)
_CHAR_CLASS[ord("0"):ord("9") + 1] = 1
_CHAR_CLASS[[ord(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»¡¿·©®"]] = 2
_CHAR_CLASS[ord("A"):ord("Z") + 1] = 3
_CHAR_CLASS[0xC0:0xDF] = 3
_CHAR_CLASS[0xD7] = 0
_CHAR_CLASS[0x391:0x3AA] = 3
_CHAR_CLASS[0x410:0x430] = 3
TEXT_BLOCK_CHARS = 150  # a block this long with few links is running text

# Chosen by measurement (5-fold CV on extraction-dev): dates, mean word length and lower-case shares moved the
# snippet rates by less than their noise; the character-class shares and the boilerplate words are worth ~0.01 of
# "with" found, so they stay, computed over the whole page at once (see _char_classes, _boilerplate_words).
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

# The second pass sees the first pass's scores around each block: running text is contiguous, boilerplate too.
CONTEXT_FEATURES = (
    "first_score", "prev_score", "next_score", "window_score", "wide_score", "page_max_score", "page_mean_score",
    "element_score", "parent_score", "score_rank",
)


class FastParseError(Exception):
    """The fast parser could not make a page out of these bytes; the caller falls back to trafilatura."""


def parse_blocks(html: str) -> PageBlocks:
    from selectolax.lexbor import LexborHTMLParser

    try:
        body = LexborHTMLParser(html).body
    except Exception as e:  # noqa: BLE001 - any parser failure means: let trafilatura try this page
        raise FastParseError(f"lexbor failed: {e}") from e
    if body is None:
        raise FastParseError("no <body> after parsing")
    return page_blocks(body)


def _bits(masks: list[int], n_bits: int) -> np.ndarray:
    return ((np.asarray(masks, dtype=np.int64)[:, None] >> np.arange(n_bits)) & 1).astype(np.float32)


def _shift(values: np.ndarray, by: int, fill: float) -> np.ndarray:
    out = np.full_like(values, fill)
    if by > 0:
        out[by:] = values[:-by]
    else:
        out[:by] = values[-by:]
    return out


def _char_classes(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: digits, ASCII/typographic punctuation, and capitals that start a word; one numpy pass over the
    page's code points instead of a Python loop per character."""
    joined = "\n".join(texts)
    points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    small = np.minimum(points, _CLASS_TABLE_SIZE - 1)
    classes = _CHAR_CLASS[small]
    starts = np.concatenate(([0], np.cumsum([len(t) + 1 for t in texts[:-1]]))).astype(np.int64)
    word_start = np.concatenate(([True], points[:-1] <= 32))
    capital = (classes == 3) & word_start
    return (np.add.reduceat((classes == 1).astype(np.float32), starts),
            np.add.reduceat((classes == 2).astype(np.float32), starts),
            np.add.reduceat(capital.astype(np.float32), starts))


def _boilerplate_words(texts: list[str]) -> np.ndarray:
    """Per block, how many of its first words are BOILERPLATE_WORDS (page furniture is short; long blocks are
    judged by their first 12 words)."""
    return np.fromiter((len(_BOILERPLATE_SET.intersection(t.lower().split()[:12])) for t in texts),
                       dtype=np.float32, count=len(texts))


def _window_sum(values: np.ndarray, half: int = 2) -> np.ndarray:
    """Sum over the block and its `half` neighbours on each side (fewer at the page's ends)."""
    cumulative = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
    index = np.arange(len(values))
    high = np.minimum(index + half + 1, len(values))
    low = np.maximum(index - half, 0)
    return (cumulative[high] - cumulative[low]).astype(np.float32)


def _main_text_relation(elements: list, chars: np.ndarray, density: np.ndarray, total: float) -> list[np.ndarray]:
    """Where a block lies relative to the page's running text: before its first / after its last text block
    (>= TEXT_BLOCK_CHARS, few links), how many blocks from the nearest one, and how far up the tree its element
    meets the longest block's element (lca_up levels; lca_share = that ancestor's share of the page's text)."""
    n = len(elements)
    index = np.arange(n)
    text_blocks = np.flatnonzero((chars >= TEXT_BLOCK_CHARS) & (density < 0.3))
    if len(text_blocks):
        before = (index < text_blocks[0]).astype(np.float32)
        after = (index > text_blocks[-1]).astype(np.float32)
        position = np.searchsorted(text_blocks, index).clip(0, len(text_blocks) - 1)
        nearest = np.minimum(np.abs(index - text_blocks[position]),
                             np.abs(index - text_blocks[(position - 1).clip(0)])).astype(np.float32)
    else:
        before = after = np.ones(n, np.float32)
        nearest = np.full(n, n, np.float32)
    chain = {}
    node, level = elements[int(np.argmax(chars))], 0
    while node is not None:
        chain[id(node)] = node
        node, level = node[PARENT], level + 1
    up = np.zeros(n, np.float32)
    share = np.zeros(n, np.float32)
    seen: dict[int, tuple[int, int]] = {}
    for i, element in enumerate(elements):
        found = seen.get(id(element))
        if found is None:
            node, steps = element, 0
            while id(node) not in chain and node[PARENT] is not None:
                node, steps = node[PARENT], steps + 1
            found = seen[id(element)] = (steps, node[CHARS])
        up[i], share[i] = found[0], found[1] / total
    return [before, after, nearest, up, share]


def block_features(blocks: PageBlocks) -> np.ndarray:
    """(blocks × FEATURE_NAMES) float32 matrix; category columns hold BLOCK_CATEGORY codes (-1 = none)."""
    n = len(blocks)
    texts, elements = blocks.texts, blocks.elements
    # one pass of C-level string methods per block (one comprehension: a generator per column costs more)
    counts = np.array([(len(t), t.count(" ") + 1, t.count(". ") + t.count("? ") + t.count("! ") + t.count("。"),
                        t.count("|"), t.count(",") + t.count("，") + t.count("、"), t[-1] in _STOPS, t[0].isupper(),
                        t[-1] in "?？") for t in texts], dtype=np.float32).reshape(n, 8)
    chars, words, pipes, commas, ends, first_upper, question = (counts[:, i] for i in (0, 1, 3, 4, 5, 6, 7))
    stops = counts[:, 2] + ends
    digits, puncts, capitals = _char_classes(texts)
    links = np.asarray(blocks.link_chars, dtype=np.float32)
    parents = [e[PARENT] or e for e in elements]
    grands = [p[PARENT] or p for p in parents]
    # per block: its element's, parent's, grandparent's and great-grandparent's (chars, link chars), and the codes
    tree = np.array([e[CHARS:LINK_CHARS + 1] + p[CHARS:LINK_CHARS + 1] + g[CHARS:LINK_CHARS + 1]
                     + (g[PARENT] or g)[CHARS:LINK_CHARS + 1] + [e[CATEGORY], e[DEPTH], p[CATEGORY], e[BLOCKS],
                                                                   p[BLOCKS]]
                     for e, p, g in zip(elements, parents, grands, strict=True)], dtype=np.float32).reshape(n, 13)
    element_ids = np.fromiter(map(id, elements), dtype=np.int64, count=n)
    same = (element_ids[1:] == element_ids[:-1]).astype(np.float32)
    category = tree[:, 8]

    density = links / chars
    total = float(chars.sum())
    offset = np.cumsum(chars) - chars
    window_chars, window_links = _window_sum(chars), _window_sum(links)
    wide_chars, wide_links = _window_sum(chars, 6), _window_sum(links, 6)
    ancestors = tree[:, 0:8].reshape(n, 4, 2)
    ancestor_density = ancestors[:, :, 1] / np.maximum(ancestors[:, :, 0], 1)
    columns = [
        category, tree[:, 9], chars, words, density, stops / words, np.asarray(blocks.breaks, dtype=np.float32),
        np.asarray(blocks.cells, dtype=np.float32), pipes,
        np.arange(n, dtype=np.float32) / n, offset / total, np.full(n, total, np.float32), np.full(n, n, np.float32),
        np.full(n, links.sum() / total, np.float32), chars / total, chars / chars.max(),
        ancestors[:, 0, 0], ancestor_density[:, 0], ancestors[:, 0, 0] / total,
        ancestors[:, 1, 0], ancestor_density[:, 1], ancestors[:, 1, 0] / total, tree[:, 10],
        ancestors[:, 2, 0] / total, ancestor_density[:, 2], ancestors[:, 3, 0] / total, ancestor_density[:, 3],
        _shift(chars, 1, 0), _shift(category, 1, -1), _shift(chars, -1, 0), _shift(category, -1, -1),
        window_links / np.maximum(window_chars, 1), window_chars, wide_links / np.maximum(wide_chars, 1), wide_chars,
        *_main_text_relation(elements, chars, density, total),
        commas / words, ends, first_upper, question, _shift(density, 1, -1), _shift(density, -1, -1),
        np.concatenate(([0], same)), np.concatenate((same, [0])), tree[:, 11], tree[:, 12],
        digits / chars, puncts / chars, capitals / words, _boilerplate_words(texts),
    ]
    return np.hstack([
        np.stack(columns, axis=1),
        _bits([e[ANCESTOR_TAGS] for e in elements], N_ANCESTOR_BITS),
        _bits([e[ANCESTOR_CLASSES] for e in elements], N_CLASS_BITS),
        _bits([e[OWN_CLASSES] for e in elements], N_CLASS_BITS),
    ]).astype(np.float32, copy=False)


def _group_mean(values: np.ndarray, keys: list) -> np.ndarray:
    _unique, inverse = np.unique(np.fromiter(map(id, keys), dtype=np.int64, count=len(keys)), return_inverse=True)
    return (np.bincount(inverse, weights=values) / np.bincount(inverse))[inverse]


def context_features(first: np.ndarray, blocks: PageBlocks) -> np.ndarray:
    """(blocks × CONTEXT_FEATURES): the first pass's score of each block and of its neighbourhood."""
    n = len(first)
    ones = np.ones(n)
    parents = [e[PARENT] or e for e in blocks.elements]
    return np.stack([
        first, _shift(first, 1, -1), _shift(first, -1, -1),
        _window_sum(first) / _window_sum(ones), _window_sum(first, 6) / _window_sum(ones, 6),
        np.full(n, first.max()), np.full(n, first.mean()),
        _group_mean(first, blocks.elements), _group_mean(first, parents),
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


def blocks_to_text(blocks: PageBlocks, keep) -> str:
    """The kept blocks in page order, in trafilatura's txt form."""
    lines = []
    for text, element, kept in zip(blocks.texts, blocks.elements, keep, strict=True):
        if kept:
            lines.append("- " + text if element[CATEGORY] == _LI else text)
    return "\n".join(lines)


def _model_bytes(path: str | Path | None) -> tuple[bytes, bytes, str]:
    """(model, card, name): a path, or the shipped default read as package data (inside a zip on executors)."""
    if path is None:
        from importlib.resources import files

        data = files("pipeline") / "data"
        card = (data / DEFAULT_MODEL.with_suffix(".json").name).read_bytes()
        return (data / DEFAULT_MODEL.name).read_bytes(), card, f"pipeline/data/{DEFAULT_MODEL.name}"
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

        from pipeline.block_trees import load_ensembles

        data, card_bytes, self.path = _model_bytes(path)
        card = json.loads(card_bytes)
        if (card.get("kind") != MODEL_KIND or tuple(card.get("features", ())) != FEATURE_NAMES
                or tuple(card.get("context_features", ())) != CONTEXT_FEATURES):
            raise ValueError(f"{self.path}: its card is not an extractor card for these features")
        if card.get("bytes") != len(data) or card.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ValueError(f"{self.path}: size or sha256 differs from its card")
        self.card = card
        self.threshold = float(card["threshold"])
        self.ensembles = load_ensembles(io.BytesIO(data))
        if "first" not in self.ensembles:
            raise ValueError(f"{self.path}: no 'first' tree ensemble")

    def scores(self, features: np.ndarray, blocks: PageBlocks) -> np.ndarray:
        """P(block is content) per block."""
        return block_scores(self.ensembles, features, blocks)


class FastExtractor:
    """`extract(html) -> text` ('' when no block is content); raises FastParseError when the page does not parse."""

    def __init__(self, model_path: str | Path | None = None):
        self.model = BlockModel(model_path or None)

    def extract(self, html: str) -> str:
        blocks = parse_blocks(html)
        if not len(blocks):
            return ""
        keep = self.model.scores(block_features(blocks), blocks) >= self.model.threshold
        return blocks_to_text(blocks, keep)
