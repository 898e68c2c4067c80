"""HTML page → text blocks, each with cheap structural facts, in one walk over a lexbor (selectolax) DOM.

A block is the inline text under one block-level element (a paragraph, a list item, a heading, a table row, the loose
text of a div). The walk keeps, per block, what a boilerplate decision needs and costs nothing extra to know while
walking: the block element's tag, its depth, its text and link lengths, the tags and class/id words of its ancestors,
and the text totals of the elements around it. pipeline/extract/fast.py turns these into a feature matrix.

The walk is the fast extractor's hot loop (~1,800 nodes on a real page), so it touches each node once, reads
attributes only of block-level elements, and looks class/id strings up in a cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# Block-level elements: entering or leaving one ends the current block. Value = the tag's category (a feature).
BLOCK_CATEGORY = {
    "p": 1, "div": 2, "li": 3, "h1": 4, "h2": 4, "h3": 4, "h4": 5, "h5": 5, "h6": 5, "tr": 6, "pre": 7,
    "blockquote": 8, "dd": 9, "dt": 9, "section": 10, "article": 10, "main": 10, "header": 11, "footer": 11,
    "nav": 11, "aside": 11, "form": 12, "figure": 13, "figcaption": 13, "body": 14, "ul": 15, "ol": 15, "dl": 15,
    "menu": 15, "table": 16, "address": 17, "center": 2, "fieldset": 12, "details": 2, "summary": 2, "caption": 13,
    "legend": 12, "hr": 2, "tbody": 16, "thead": 16, "tfoot": 16, "label": 12, "html": 14,
}
# Never text: their subtrees are skipped whole (trafilatura drops them too). <rt>/<rp> hold ruby readings (furigana)
# that would otherwise be spliced into the words they annotate.
SKIP_TAGS = frozenset(
    "script style noscript template svg iframe head select option button textarea input canvas video audio object "
    "embed map math title meta link rt rp".split()
)
# Skipped as well although they hold text, because trafilatura keeps next to none of it: on extraction-dev 0.5% of
# the text under <nav>, 0.5% under <footer>, 1.3% under <aside>, while they hold ~35% of a page's blocks (time).
# <form> is not among them: ASP.NET pages wrap the whole page in one.
BOILERPLATE_TAGS = frozenset(("nav", "aside", "footer"))
CELL_TAGS = frozenset(("td", "th"))
_ROW = BLOCK_CATEGORY["tr"]
# Ancestor tags worth a bit each in the block's ancestor mask.
ANCESTOR_BITS = {
    "nav": 0, "header": 1, "footer": 2, "aside": 3, "form": 4, "ul": 5, "ol": 5, "dl": 5, "menu": 5, "table": 6,
    "article": 7, "main": 8, "section": 9, "blockquote": 10, "figure": 11, "li": 12, "p": 13, "a": 14, "h1": 15,
    "h2": 15, "h3": 15, "h4": 15, "h5": 15, "h6": 15, "label": 4, "fieldset": 4, "address": 2, "time": 16,
}
N_ANCESTOR_BITS = 17
# Word stems of class/id values; a stem matches at the start of a word ("navbar", "site-footer", "commentList").
CLASS_STEMS = (
    "nav", "menu", "foot", "head", "side", "comment|discus|reply|respond", "share|social|sharing|facebook|twitter",
    "related|recommend|similar|more", "widget|module|block|box", "breadcrumb|crumb", "cookie|consent|gdpr|privacy",
    "banner|ads?$|advert|sponsor|promo|commercial|dfp", "meta|byline|author|date|time|posted|published|info",
    "tag|categor|topic|keyword", "caption|credit|photo|image|img|figure|media|gallery|video",
    "content|article|post|entry|story|body|text|main|blog|news|detail|single|page",
    "title|heading|headline|h[1-6]$", "hidden|hide|skip|sr$|screen|invisible|visually", "copyright|legal|imprint|"
    "impressum|disclaimer|terms", "subscribe|newsletter|signup|login|register|account|user|member|paywall",
    "search", "pagin|pager|next|prev|pages", "teaser|popular|trending|list|latest|top|most|feed|card|item",
    "modal|popup|overlay|dialog|lightbox|alert|notice|message", "button|btn|icon|link|logo|action|tool",
    "contact|address|location|phone|mail", "print|email|pdf|download", "rating|vote|like|star|score",
    "lead|intro|summary|abstract|desc|excerpt|teaser|subtitle|sub", "col|row|grid|wrap|container|inner|outer|clear",
)
N_CLASS_BITS = len(CLASS_STEMS)
# Words of a class/id string (camelCase split), and stem → bit lookups by prefix: dict probes beat one big regex.
_WORDS = re.compile(r"[A-Z]?[a-z]+[0-9]*|[A-Z]+(?![a-z])|[0-9]+")
_PREFIX_BITS: dict[str, int] = {}
_EXACT_BITS: dict[str, int] = {}
for _bit, _stems in enumerate(CLASS_STEMS):
    for _stem in _stems.split("|"):
        if _stem.endswith("$"):
            _EXACT_BITS[_stem.rstrip("$").replace("s?", "")] = _bit
            _EXACT_BITS[_stem.rstrip("$").replace("s?", "s")] = _bit
        elif "[" in _stem:  # h[1-6]
            _EXACT_BITS.update({f"h{i}": _bit for i in range(1, 7)})
        else:
            _PREFIX_BITS.setdefault(_stem, _bit)
_PREFIX_LENGTHS = sorted({len(stem) for stem in _PREFIX_BITS})
_class_cache: dict[str, int] = {}
_CACHE_MAX = 200_000


def class_mask(value: str) -> int:
    """Bit i set when the class/id string holds a word starting with one of CLASS_STEMS[i]."""
    mask = _class_cache.get(value)
    if mask is None:
        mask = 0
        for word in _WORDS.findall(value):
            word = word.lower()
            bit = _EXACT_BITS.get(word)
            if bit is not None:
                mask |= 1 << bit
            for length in _PREFIX_LENGTHS:
                if length > len(word):
                    break
                bit = _PREFIX_BITS.get(word[:length])
                if bit is not None:
                    mask |= 1 << bit
                    break
        if len(_class_cache) >= _CACHE_MAX:  # bounded: a long-running worker sees endless generated class names
            _class_cache.clear()
        _class_cache[value] = mask
    return mask


# A block-level element on the walk's stack is a list, indexed by these (one is made per block-level element in the
# hot loop, and a list costs a fifth of a slotted object's __init__); its totals are of its whole subtree once the
# walk has left it. The integer fields come first: PageBlocks.element_table() turns them into one array.
# INDEX is the element's row in PageBlocks.table (-1 until a block lies under it), PARENT_INDEX its parent's row
# (its own at the root).
CATEGORY, DEPTH, ANCESTOR_TAGS, ANCESTOR_CLASSES, OWN_CLASSES, CHARS, LINK_CHARS, BLOCKS, INDEX, PARENT_INDEX, \
    PARENT = range(11)
N_ELEMENT_FIELDS = PARENT  # the integer fields
Element = list


@dataclass(slots=True)
class PageBlocks:
    """Parallel lists, one entry per block in page order (columns are cheaper than an object per block), and the
    table of block-level elements that hold a block or are above one (`element_ids` are rows of it)."""

    texts: list[str] = field(default_factory=list)
    link_chars: list[int] = field(default_factory=list)
    element_ids: list[int] = field(default_factory=list)
    breaks: list[int] = field(default_factory=list)
    cells: list[bool] = field(default_factory=list)
    table: list[Element] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def elements(self) -> list[Element]:
        """Each block's innermost block-level element."""
        return [self.table[i] for i in self.element_ids]

    def element_table(self) -> np.ndarray:
        """(elements × N_ELEMENT_FIELDS) int64: the integer fields of `table`, row = INDEX."""
        return np.array([e[:N_ELEMENT_FIELDS] for e in self.table], dtype=np.int64).reshape(-1, N_ELEMENT_FIELDS)


TEXT_ID = 2  # lexbor's tag id of a text node
FIRST_ELEMENT_ID = 6  # below: no elements (undefined, e.g. processing instructions; text, document, comment, doctype)
_SKIP, _BREAK, _CELL, _LINK = 0, -1, -2, -3  # the walk's codes of tags that are not block-level (categories are > 0)


class _TagIds:
    """The walk's tag tables keyed by lexbor tag id: reading `node.tag_id` is ~25% cheaper than `node.tag` (which
    builds a string), and the ids of standard tags are fixed by lexbor. Built once, by parsing every tag we name."""

    def __init__(self):
        from selectolax.lexbor import LexborHTMLParser

        names = set(BLOCK_CATEGORY) | SKIP_TAGS | BOILERPLATE_TAGS | CELL_TAGS | set(ANCESTOR_BITS) | {"br", "a"}
        documents = (
            "<table><caption>c</caption><thead><tr><th>h</th></tr></thead><tbody><tr><td>d</td></tr></tbody>"
            "<tfoot></tfoot></table>",
            "<html><head><title>t</title><meta><link><style></style><script></script><noscript></noscript>"
            "<template></template></head><body><!-- c -->" + "".join(f"<{n}>x</{n}>" for n in sorted(names))
            + "</body></html>",
        )
        ids = {}
        for document in documents:
            for node in LexborHTMLParser(document).root.traverse(include_text=True):
                ids.setdefault(node.tag, node.tag_id)
        missing = names - set(ids)
        if missing or ids.get("-text") != TEXT_ID or min(ids[n] for n in names) < FIRST_ELEMENT_ID:
            raise RuntimeError(f"lexbor's tag ids are not the ones this walk expects (missing: {sorted(missing)})")
        # what the walk does at a tag, in one dict probe: a block category (> 0), or one of the _KIND codes;
        # a tag not in it is inline
        self.kind = {ids[n]: c for n, c in BLOCK_CATEGORY.items()}
        self.kind.update({ids[n]: _SKIP for n in SKIP_TAGS | BOILERPLATE_TAGS})
        self.kind.update({i: _SKIP for i in range(FIRST_ELEMENT_ID) if i != TEXT_ID})
        self.kind.update({ids[n]: _CELL for n in CELL_TAGS})
        self.kind.update({ids["br"]: _BREAK, ids["a"]: _LINK})
        self.ancestor_bit = {ids[n]: b for n, b in ANCESTOR_BITS.items()}


_tag_ids: _TagIds | None = None


class BlockWalker:
    """One page's walk: `walk(body)` fills `blocks`."""

    def __init__(self):
        global _tag_ids
        if _tag_ids is None:
            _tag_ids = _TagIds()
        self._ids = _tag_ids
        self.blocks = PageBlocks()
        self._parts: list[str] = []
        self._link_chars = 0
        self._breaks = 0

    def walk(self, body) -> PageBlocks:
        root = [BLOCK_CATEGORY["body"], 0, 0, 0, 0, 0, 0, 0, -1, -1, None]
        self._element(body, root, in_link=False)
        if self._parts:
            self._flush(root)
        return self.blocks

    def _flush(self, element: Element) -> None:
        raw = "".join(self._parts)
        self._parts.clear()  # in place: callers up the recursion hold this list
        link_chars, self._link_chars = self._link_chars, 0
        breaks, self._breaks = self._breaks, 0
        is_row = element[CATEGORY] == _ROW
        if is_row:
            cells = [" ".join(cell.split()) for cell in raw.split("\x1f")[1:]]
            text = "| " + " | ".join(cells) + " |" if any(cells) else ""
        elif breaks:
            text = "\n".join(line for line in (" ".join(part.split()) for part in raw.split("\x1e")) if line)
        else:
            text = " ".join(raw.split())
        if not text:
            return
        blocks = self.blocks
        blocks.texts.append(text)
        blocks.link_chars.append(min(link_chars, len(text)))
        if element[INDEX] < 0:
            self._register(element)
        blocks.element_ids.append(element[INDEX])
        blocks.breaks.append(breaks)
        blocks.cells.append(is_row)
        element[CHARS] += len(text)
        element[LINK_CHARS] += min(link_chars, len(text))
        element[BLOCKS] += 1

    def _register(self, element: Element) -> None:
        """Give `element` and its ancestors not yet in the table their rows, parents first."""
        chain = []
        while element is not None and element[INDEX] < 0:
            chain.append(element)
            element = element[PARENT]
        table = self.blocks.table
        for element in reversed(chain):
            element[INDEX] = len(table)
            parent = element[PARENT]
            element[PARENT_INDEX] = element[INDEX] if parent is None else parent[INDEX]
            table.append(element)

    def _element(self, node, element: Element, in_link: bool) -> None:
        """Walk `node`'s children; `element` is the innermost block-level element around them."""
        parts = self._parts
        kind_of = self._ids.kind.get
        child = node.first_child  # first_child/next: ~25% cheaper than the node.iter() generator
        while child is not None:
            tag = child.tag_id
            if tag == TEXT_ID:
                text = child.text_content
                if text and (parts or not text.isspace()):  # leading whitespace of a block is nothing
                    parts.append(text)
                    if in_link:
                        self._link_chars += len(text)
                child = child.next
                continue
            kind = kind_of(tag)
            if kind is None:  # inline (custom elements included): its text belongs to the current block
                self._element(child, element, in_link)
            elif kind > 0:
                self._block(child, kind, element, in_link)
            elif kind == _LINK:
                self._element(child, element, True)
            elif kind == _BREAK:
                parts.append("\x1e")
                self._breaks += 1
            elif kind == _CELL:
                parts.append("\x1f")
                self._element(child, element, in_link)
            # else _SKIP: comments, doctype, ...; script, style, ...; nav, aside, footer
            child = child.next

    def _block(self, node, category: int, element: Element, in_link: bool) -> None:
        """A block-level child of `element`: ends the current block, and its own text makes new ones."""
        if self._parts:
            self._flush(element)
        attributes = node.attributes
        own = 0
        names = attributes.get("class")
        if names:
            own = class_mask(names)
        names = attributes.get("id")
        if names:
            own |= class_mask(names)
        bit = self._ids.ancestor_bit.get(node.tag_id)
        inner = [category, element[DEPTH] + 1, element[ANCESTOR_TAGS] | (1 << bit if bit is not None else 0),
                 element[ANCESTOR_CLASSES] | own, own, 0, 0, 0, -1, -1, element]
        self._element(node, inner, in_link)
        if self._parts:
            self._flush(inner)
        element[CHARS] += inner[CHARS]
        element[LINK_CHARS] += inner[LINK_CHARS]


def page_blocks(body) -> PageBlocks:
    """The blocks of a parsed page's <body> (a selectolax LexborNode)."""
    return BlockWalker().walk(body)
