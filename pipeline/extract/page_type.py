"""What kind of page this is (article, forum, product, collection, listing, documentation, service), from page-level
signals the fast extractor has in hand anyway: the block feature matrix (aggregated over the page), the lexbor tree
(JSON-LD @type, og:type, title), a few substring counts of the raw HTML and the URL's words.

The types are WCXB's (../shared/data/wcxb-dev). The decision is boosted trees (pipeline/extract/block_trees.py: one
ensemble per type, softmax over their raw scores), trained by classifiers/extractor_wcxb.py with a by-domain
cross-validation; the model ships as package data (pipeline/extract/data/page_type_v1.npz with its card). The fast
extractor reads its probabilities as block features (forum posts, product descriptions and listing cards are content
on their pages, clutter elsewhere) and exposes the top type as `FastExtractor.last_page_type`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

PAGE_TYPES = ("article", "forum", "product", "collection", "listing", "documentation", "service")
MODEL_KIND = "page_type"
DEFAULT_MODEL = Path(__file__).resolve().parent / "data" / "page_type_v1.npz"

# word groups looked for in the URL path, the host and the title (whole words, lowercase)
WORD_GROUPS = {
    "forum": "forum forums thread threads topic topics viewtopic showthread discussion discussions discuss community "
             "board boards questions question answers reddit comments t",
    "product": "product products p dp item items shop store buy sku pd prod",
    "collection": "collections collection category categories c shop catalog catalogue browse department range",
    "listing": "list lists search results tag tags archive archives page directory jobs events listings index",
    "docs": "docs doc documentation api reference manual guide guides tutorial tutorials wiki learn sdk developer "
            "developers howto readme latest stable en-us",
    "article": "blog news article articles post posts story stories press insights magazine",
    "service": "services service solutions about contact pricing company features services-2 offer care clinic "
               "treatment repair",
}
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)?")
_DATE_PATH = re.compile(r"/(19|20)\d\d/")
# JSON-LD / og:type values, by the group they point to
LD_GROUPS = {
    "article": ("article", "newsarticle", "blogposting", "report", "scholarlyarticle", "liveblogposting"),
    "forum": ("discussionforumposting", "qapage", "question", "answer", "comment", "socialmediaposting"),
    "product": ("product", "offer", "aggregateoffer", "productgroup", "individualproduct", "car", "book"),
    "collection": ("collectionpage", "itemlist", "offercatalog", "productcollection"),
    "listing": ("searchresultspage", "event", "jobposting", "listitem"),
    "docs": ("techarticle", "apireference", "softwaresourcecode", "howto", "softwareapplication"),
    "service": ("service", "localbusiness", "organization", "professionalservice", "faqpage", "aboutpage",
                "contactpage", "medicalbusiness", "website", "webpage"),
}
_LD_TYPE = re.compile(r'"@type"\s*:\s*\[?\s*"([^"]+)"')
# raw-HTML substrings counted (str.count is a memchr-speed scan)
HTML_COUNTS = ("<article", "<section", "<pre", "<code", "<form", "<input", "<time", "price", "cart", "reply",
               "thread", "post", "product", "card", "review", "filter", "sidebar", "toc", "<h2", "<h3", "<table",
               "itemprop", "author", "quote")
_COUNTED = tuple(s.encode("ascii") for s in HTML_COUNTS)
# block-feature columns (pipeline.fast_extract.FEATURE_NAMES) aggregated per page: mean over blocks and char-weighted
AGGREGATED = ("link_density", "stops_per_word", "is_row", "words", "first_upper", "digit_share", "boilerplate_words")
_CATEGORIES = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # p, div, li, h1-3, h4-6, tr, pre, blockquote, dd/dt


def _group_flags(words: set[str]) -> list[float]:
    return [float(bool(words & set(g.split()))) for g in WORD_GROUPS.values()]


def _ld_flags(values: list[str]) -> list[float]:
    values = {v.lower().rsplit("/", 1)[-1] for v in values}
    return [float(bool(values & set(group))) for group in LD_GROUPS.values()]


def substring_counts(html: str) -> list[int]:
    """`[html.count(s) for s in HTML_COUNTS]`, the same numbers about 10x faster (24 str.count scans were half of a
    page's typing time): the UTF-8 bytes are scanned once per distinct first letter, and the candidates narrowed
    letter by letter. Equal because an ASCII string never matches inside a multi-byte character and no string of
    HTML_COUNTS overlaps itself (str.count counts non-overlapping occurrences; tests check both)."""
    data = np.frombuffer(html.encode("utf-8", "surrogatepass"), np.uint8)
    firsts: dict[int, np.ndarray] = {}
    counts = []
    for pattern in _COUNTED:
        if pattern[0] not in firsts:
            firsts[pattern[0]] = np.flatnonzero(data == pattern[0])
        at = firsts[pattern[0]]
        at = at[at <= len(data) - len(pattern)]
        for k in range(1, len(pattern)):
            if not len(at):
                break
            at = at[data[at + k] == pattern[k]]
        counts.append(len(at))
    return counts


def signal_names() -> tuple[str, ...]:
    from pipeline.extract.fast import FEATURE_NAMES

    bits = [n for n in FEATURE_NAMES if n.startswith(("anc_tag_", "anc_class_", "own_class_"))]
    return (
        tuple(f"url_{g}" for g in WORD_GROUPS) + tuple(f"host_{g}" for g in WORD_GROUPS)
        + tuple(f"title_{g}" for g in WORD_GROUPS) + tuple(f"ld_{g}" for g in LD_GROUPS)
        + tuple(f"og_{g}" for g in LD_GROUPS)
        + ("url_depth", "url_length", "url_date", "url_query", "url_digits", "url_trailing_slash", "ld_count")
        + tuple(f"html_{c.strip('<')}" for c in HTML_COUNTS)
        + ("blocks", "chars", "html_kb", "text_blocks", "longest_share", "top_element_share", "repeated_groups",
           "largest_group", "link_chars_share")
        + tuple(f"cat_share_{c}" for c in _CATEGORIES) + tuple(f"cat_chars_{c}" for c in _CATEGORIES)
        + tuple(f"mean_{a}" for a in AGGREGATED) + tuple(f"wmean_{a}" for a in AGGREGATED)
        + tuple(f"bits_{b}" for b in bits)
    )


def page_signals(html: str, url: str | None, tree, blocks, features: np.ndarray) -> np.ndarray:
    """One page's signal vector (signal_names() order), float32. `tree` is the LexborHTMLParser, `blocks` its
    PageBlocks and `features` their block feature matrix (pipeline.fast_extract.block_features)."""
    from pipeline.extract.blocks import CATEGORY, OWN_CLASSES, PARENT_INDEX
    from pipeline.extract.fast import FEATURE_NAMES

    parts = urlsplit(url or "")
    path = parts.path.lower()
    path_words = set(_WORD.findall(path))
    host_words = set((parts.hostname or "").lower().split("."))
    title_node = tree.css_first("title") if tree is not None else None
    title_words = set(_WORD.findall((title_node.text() if title_node is not None else "").lower()))
    ld_types, og = [], []
    if tree is not None:
        for script in tree.css('script[type="application/ld+json"]'):
            ld_types += _LD_TYPE.findall(script.text() or "")
        meta = tree.css_first('meta[property="og:type"]')
        if meta is not None:
            og.append(meta.attributes.get("content") or "")
    segments = [s for s in path.split("/") if s]
    out = (_group_flags(path_words) + _group_flags(host_words) + _group_flags(title_words) + _ld_flags(ld_types)
           + _ld_flags(og) + [len(segments), len(path), float(bool(_DATE_PATH.search(path))), float(bool(parts.query)),
                              sum(ch.isdigit() for ch in path), float(path.endswith("/")), len(ld_types)])
    kb = max(len(html) / 1000.0, 1.0)
    out += [n / kb for n in substring_counts(html)]
    n = features.shape[0]
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    chars = features[:, col["chars"]] if n else np.zeros(0, np.float32)
    total = float(chars.sum()) or 1.0
    text_blocks = (chars >= 150) & (features[:, col["link_density"]] < 0.3) if n else chars > 0
    table = blocks.element_table() if n else np.zeros((0, 10), np.int64)
    groups_max, groups_repeated, top_share = 0, 0, 0.0
    if len(table):
        keys = table[:, PARENT_INDEX] * 1_000_003 + table[:, CATEGORY] * 7919 + table[:, OWN_CLASSES] % 7919
        _, counts = np.unique(keys, return_counts=True)
        groups_max, groups_repeated = int(counts.max()), int((counts >= 4).sum())
        top_share = float(features[:, col["el_share"]].max())
    link_share = float((features[:, col["link_density"]] * chars).sum() / total) if n else 0.0
    out += [n, np.log1p(total), len(html) / 1000.0, int(text_blocks.sum()), float(chars.max() / total) if n else 0.0,
            top_share, groups_repeated, groups_max, link_share]
    category = features[:, col["category"]] if n else chars
    out += [float((category == c).mean()) if n else 0.0 for c in _CATEGORIES]
    out += [float(chars[category == c].sum() / total) if n else 0.0 for c in _CATEGORIES]
    out += [float(features[:, col[a]].mean()) if n else 0.0 for a in AGGREGATED]
    out += [float((features[:, col[a]] * chars).sum() / total) if n else 0.0 for a in AGGREGATED]
    bit_cols = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith(("anc_tag_", "anc_class_", "own_class_"))]
    out += list((features[:, bit_cols] * chars[:, None]).sum(axis=0) / total) if n else [0.0] * len(bit_cols)
    return np.asarray(out, dtype=np.float32)


def softmax_scores(ensembles: dict, signals: np.ndarray) -> np.ndarray:
    """(pages x PAGE_TYPES) probabilities from the per-type ensembles' raw scores."""
    raw = np.stack([ensembles[t].raw_scores(signals) for t in PAGE_TYPES], axis=1)
    raw -= raw.max(axis=1, keepdims=True)
    e = np.exp(raw)
    return e / e.sum(axis=1, keepdims=True)


class PageTypeModel:
    """The shipped (or a given) page-type model; its card must match the file and these signals."""

    def __init__(self, path: str | Path | None = None):
        import io

        from pipeline.extract.block_trees import load_ensembles

        if path is None:
            from importlib.resources import files

            data_dir = files("pipeline.extract") / "data"
            data = (data_dir / DEFAULT_MODEL.name).read_bytes()
            card_bytes = (data_dir / DEFAULT_MODEL.with_suffix(".json").name).read_bytes()
            self.path = f"pipeline/extract/data/{DEFAULT_MODEL.name}"
        else:
            path = Path(path)
            data, card_bytes, self.path = path.read_bytes(), path.with_suffix(".json").read_bytes(), str(path)
        card = json.loads(card_bytes)
        if card.get("kind") != MODEL_KIND or tuple(card.get("signals", ())) != signal_names():
            raise ValueError(f"{self.path}: its card is not a page-type card for these signals")
        if card.get("sha256") != hashlib.sha256(data).hexdigest():
            raise ValueError(f"{self.path}: sha256 differs from its card")
        self.card = card
        self.ensembles = load_ensembles(io.BytesIO(data))

    def probabilities(self, signals: np.ndarray) -> np.ndarray:
        return softmax_scores(self.ensembles, np.atleast_2d(signals))


class PageTyper:
    """`type_of(html, url)`: the page's most likely type and its probability, for pages the fast extractor does not
    type (trafilatura's): one lexbor parse, the block walk and features, the signals, the model. A page without
    blocks (a Discourse forum's posts sit in <noscript>) is typed from its other signals (URL, title, JSON-LD,
    markup counts): 26 of the 28 such WCXB dev pages right, which the model never trained on. (None, 0.0) when
    lexbor cannot parse the page."""

    def __init__(self, path: str | Path | None = None):
        self.model = PageTypeModel(path)

    def type_of(self, html: str, url: str | None) -> tuple[str | None, float]:
        from pipeline.extract.fast import FEATURE_NAMES, FastParseError, block_features, parse_page

        try:
            tree, blocks = parse_page(html)
        except FastParseError:
            return None, 0.0
        features = block_features(blocks) if len(blocks) else np.zeros((0, len(FEATURE_NAMES)), np.float32)
        return top_type(self.model.probabilities(page_signals(html, url, tree, blocks, features))[0])


def top_type(probabilities: np.ndarray) -> tuple[str, float]:
    """The most likely type of one page's PAGE_TYPES probabilities, and its probability."""
    best = int(probabilities.argmax())
    return PAGE_TYPES[best], float(probabilities[best])
