"""The fast extractor's block features in one compiled pass: pipeline/extract/fast.py's FEATURE_NAMES, per block.

Imported lazily by fast_extract.block_features (numba is heavy). The Python side hands over flat arrays only: the
page's text as code points (blocks joined by "\n"), each block's length, link characters, line breaks, row flag and
element row, and the element table (PageBlocks.element_table). Everything else, the
text statistics, the tree context, the windows and the main-text relation, is computed here in O(blocks + points +
elements x depth). Before this kernel the same features took ~0.7 ms a page in numpy and Python loops, more than
the page's parse; now they take a few hundredths of that (benchmarks/extract_bench.py --mode extractors, split).

Columns 0..53 follow fast_extract.NUMERIC_FEATURES (tests/pipeline/extract/test_block_kernel.py checks them by
name against plain Python); then the ancestor-tag, ancestor-class and own-class bits.
"""

from __future__ import annotations

import numpy as np

from pipeline.compiled import jit
from pipeline.extract.blocks import (
    ANCESTOR_CLASSES,
    ANCESTOR_TAGS,
    BLOCKS,
    CATEGORY,
    CHARS,
    DEPTH,
    LINK_CHARS,
    N_ANCESTOR_BITS,
    N_CLASS_BITS,
    OWN_CLASSES,
    PARENT_INDEX,
)

TEXT_BLOCK_CHARS = 150  # a block this long with few links is running text
TEXT_BLOCK_LINK_DENSITY = 0.3
N_NUMERIC = 54
N_FEATURES = N_NUMERIC + N_ANCESTOR_BITS + 2 * N_CLASS_BITS

# Code point classes: 1 digit, 2 punctuation, 3 capital (Latin, Greek, Cyrillic ranges), 0 other (and all beyond)
CLASS_TABLE_SIZE = 0x0530
CHAR_CLASS = np.zeros(CLASS_TABLE_SIZE, dtype=np.uint8)
CHAR_CLASS[ord("0"):ord("9") + 1] = 1
CHAR_CLASS[[ord(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»¡¿·©®"]] = 2
CHAR_CLASS[ord("A"):ord("Z") + 1] = 3
CHAR_CLASS[0xC0:0xDF] = 3
CHAR_CLASS[0xD7] = 0
CHAR_CLASS[0x391:0x3AA] = 3
CHAR_CLASS[0x410:0x430] = 3
# str.isupper over the Basic Multilingual Plane (beyond it: False), for a block's first character
IS_UPPER = np.array([chr(c).isupper() for c in range(0x10000)], dtype=np.bool_)
# A block "ends with a stop" when its last character is one of these
STOP_CHARS = np.array([ord(c) for c in ".!?\"'”»)"], dtype=np.uint32)

# Words of page furniture in the dev set's languages and the web's at large (en, de, fr, es, it, nl, pl): sharing,
# comments, accounts, legal, navigation, ratings. Whole words, lowercased;
# a block's feature is how many distinct ones are among its first BOILERPLATE_SCAN words (page furniture is short).
BOILERPLATE_WORDS = tuple("""
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
BOILERPLATE_SCAN = 12
# str.lower of one character, where that is one character, below U+0250 (every letter of BOILERPLATE_WORDS and its
# capital is there); other characters stay as they are, which cannot turn a word into one of the list
LOWER = np.arange(0x250, dtype=np.uint32)
for _c in range(0x250):
    if len(chr(_c).lower()) == 1:
        LOWER[_c] = ord(chr(_c).lower())

_SPACE, _PERIOD, _QUESTION, _BANG, _PIPE, _COMMA = 32, 46, 63, 33, 124, 44
_IDEOGRAPHIC_STOP, _IDEOGRAPHIC_COMMA, _FULLWIDTH_COMMA, _FULLWIDTH_QUESTION = 0x3002, 0x3001, 0xFF0C, 0xFF1F


@jit()
def _window(values, half, out):  # pragma: no cover - compiled
    """out[i] = sum of values[i - half .. i + half] (fewer at the ends)."""
    n = values.shape[0]
    running = 0.0
    for i in range(min(half, n)):
        running += values[i]
    for i in range(n):
        if i + half < n:
            running += values[i + half]
        if i - half - 1 >= 0:
            running -= values[i - half - 1]
        out[i] = running


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


@jit()
def _word_hash(points, start, end, lower):  # pragma: no cover - compiled
    """FNV-1a over a word's lowercased code points."""
    h = _FNV_OFFSET
    for j in range(start, end):
        c = points[j]
        if c < lower.shape[0]:
            c = lower[c]
        h = (h ^ np.uint64(c)) * _FNV_PRIME
    return h


@jit()
def _boilerplate_count(points, start, end, lower, known):  # pragma: no cover - compiled
    """Distinct words of `known` (sorted hashes) among the first BOILERPLATE_SCAN words of points[start:end]."""
    found = np.zeros(BOILERPLATE_SCAN, np.uint64)
    count = seen = 0
    j = start
    while j < end and seen < BOILERPLATE_SCAN:
        while j < end and points[j] <= _SPACE:
            j += 1
        if j == end:
            break
        word_start = j
        while j < end and points[j] > _SPACE:
            j += 1
        seen += 1
        h = _word_hash(points, word_start, j, lower)
        at = np.searchsorted(known, h)
        if at < known.shape[0] and known[at] == h:
            duplicate = False
            for k in range(count):
                duplicate |= found[k] == h
            if not duplicate:
                found[count] = h
                count += 1
    return count


@jit()
def _hashes(points, lengths, lower):  # pragma: no cover - compiled
    out = np.empty(lengths.shape[0], np.uint64)
    start = 0
    for i in range(lengths.shape[0]):
        out[i] = _word_hash(points, start, start + lengths[i], lower)
        start += lengths[i] + 1
    return out


def _code_points(texts) -> tuple[np.ndarray, np.ndarray]:
    """The texts joined by "\n" as UTF-32 code points, and each text's length."""
    points = np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32)
    return points, np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))


BOILERPLATE_HASHES = np.unique(_hashes(*_code_points(BOILERPLATE_WORDS), LOWER))


@jit()
def features_kernel(points, lengths, link_chars, breaks, cells, element_ids, table, char_class, is_upper,
                    stop_chars, lower, boilerplate, out):  # pragma: no cover - compiled
    n = lengths.shape[0]
    chars = np.empty(n, np.float64)
    links = np.empty(n, np.float64)
    words = np.empty(n, np.float64)
    # text statistics: one pass over the code points
    start = 0
    for i in range(n):
        length = lengths[i]
        spaces = stops = pipes = commas = digits = puncts = capitals = 0
        for j in range(start, start + length):
            c = points[j]
            nxt = points[j + 1] if j + 1 < start + length else 0
            if c == _SPACE:
                spaces += 1
            elif c == _PERIOD or c == _QUESTION or c == _BANG:
                if nxt == _SPACE:
                    stops += 1
            elif c == _IDEOGRAPHIC_STOP:
                stops += 1
            elif c == _PIPE:
                pipes += 1
            elif c == _COMMA or c == _FULLWIDTH_COMMA or c == _IDEOGRAPHIC_COMMA:
                commas += 1
            kind = char_class[c] if c < char_class.shape[0] else 0
            if kind == 1:
                digits += 1
            elif kind == 2:
                puncts += 1
            elif kind == 3 and (j == 0 or points[j - 1] <= _SPACE):
                capitals += 1
        first, last = points[start], points[start + length - 1]
        ends = 0.0
        for s in stop_chars:
            if last == s:
                ends = 1.0
        chars[i] = length
        words[i] = spaces + 1
        links[i] = link_chars[i]
        row = out[i]
        row[2] = length
        row[3] = words[i]
        row[4] = link_chars[i] / length
        row[5] = (stops + ends) / words[i]
        row[6] = breaks[i]
        row[7] = cells[i]
        row[8] = pipes
        row[40] = commas / words[i]
        row[41] = ends
        row[42] = is_upper[first] if first < is_upper.shape[0] else False
        row[43] = last == _QUESTION or last == _FULLWIDTH_QUESTION
        row[50] = digits / length
        row[51] = puncts / length
        row[52] = capitals / words[i]
        row[53] = _boilerplate_count(points, start, start + length, lower, boilerplate)
        start += length + 1  # the "\n" between blocks

    total = chars.sum()
    longest = chars.max()
    page_links = links.sum()
    window_chars, window_links = np.empty(n), np.empty(n)
    wide_chars, wide_links = np.empty(n), np.empty(n)
    _window(chars, 2, window_chars)
    _window(links, 2, window_links)
    _window(chars, 6, wide_chars)
    _window(links, 6, wide_links)

    # running text: the first, the last and the nearest text block
    is_text = (chars >= TEXT_BLOCK_CHARS) & (links / chars < TEXT_BLOCK_LINK_DENSITY)
    first_text, last_text = -1, -1
    for i in range(n):
        if is_text[i]:
            if first_text < 0:
                first_text = i
            last_text = i
    nearest = np.full(n, float(n))
    if first_text >= 0:
        previous = -1
        for i in range(n):  # distance to the text block before (or at) i, then to the one after
            if is_text[i]:
                previous = i
            if previous >= 0:
                nearest[i] = i - previous
        following = -1
        for i in range(n - 1, -1, -1):
            if is_text[i]:
                following = i
            if following >= 0 and following - i < nearest[i]:
                nearest[i] = following - i

    # the chain from the longest block's element up to the root; each element's meeting point with it
    parent = table[:, PARENT_INDEX]
    on_chain = np.zeros(table.shape[0], np.bool_)
    node = element_ids[np.argmax(chars)]
    while True:
        on_chain[node] = True
        if parent[node] == node:
            break
        node = parent[node]

    offset = 0.0
    for i in range(n):
        row = out[i]
        e = element_ids[i]
        p = parent[e]
        g = parent[p]
        gg = parent[g]
        row[0] = table[e, CATEGORY]
        row[1] = table[e, DEPTH]
        row[9] = i / n
        row[10] = offset / total
        offset += chars[i]
        row[11] = total
        row[12] = n
        row[13] = page_links / total
        row[14] = chars[i] / total
        row[15] = chars[i] / longest
        row[16] = table[e, CHARS]
        row[17] = table[e, LINK_CHARS] / max(table[e, CHARS], 1)
        row[18] = table[e, CHARS] / total
        row[19] = table[p, CHARS]
        row[20] = table[p, LINK_CHARS] / max(table[p, CHARS], 1)
        row[21] = table[p, CHARS] / total
        row[22] = table[p, CATEGORY]
        row[23] = table[g, CHARS] / total
        row[24] = table[g, LINK_CHARS] / max(table[g, CHARS], 1)
        row[25] = table[gg, CHARS] / total
        row[26] = table[gg, LINK_CHARS] / max(table[gg, CHARS], 1)
        row[27] = chars[i - 1] if i > 0 else 0.0
        row[28] = table[element_ids[i - 1], CATEGORY] if i > 0 else -1.0
        row[29] = chars[i + 1] if i + 1 < n else 0.0
        row[30] = table[element_ids[i + 1], CATEGORY] if i + 1 < n else -1.0
        row[31] = window_links[i] / max(window_chars[i], 1.0)
        row[32] = window_chars[i]
        row[33] = wide_links[i] / max(wide_chars[i], 1.0)
        row[34] = wide_chars[i]
        row[35] = 1.0 if first_text < 0 or i < first_text else 0.0
        row[36] = 1.0 if first_text < 0 or i > last_text else 0.0
        row[37] = nearest[i]
        node, steps = e, 0
        while not on_chain[node] and parent[node] != node:
            node = parent[node]
            steps += 1
        row[38] = steps
        row[39] = table[node, CHARS] / total
        row[44] = links[i - 1] / chars[i - 1] if i > 0 else -1.0
        row[45] = links[i + 1] / chars[i + 1] if i + 1 < n else -1.0
        row[46] = 1.0 if i > 0 and element_ids[i - 1] == e else 0.0
        row[47] = 1.0 if i + 1 < n and element_ids[i + 1] == e else 0.0
        row[48] = table[e, BLOCKS]
        row[49] = table[p, BLOCKS]
        for b in range(N_ANCESTOR_BITS):
            row[N_NUMERIC + b] = (table[e, ANCESTOR_TAGS] >> b) & 1
        for b in range(N_CLASS_BITS):
            row[N_NUMERIC + N_ANCESTOR_BITS + b] = (table[e, ANCESTOR_CLASSES] >> b) & 1
            row[N_NUMERIC + N_ANCESTOR_BITS + N_CLASS_BITS + b] = (table[e, OWN_CLASSES] >> b) & 1


def block_features(texts: list[str], link_chars, breaks, cells, element_ids, table: np.ndarray) -> np.ndarray:
    """(blocks x N_FEATURES) float32 for one page's blocks (every text non-empty)."""
    points, lengths = _code_points(texts)
    out = np.empty((len(texts), N_FEATURES), dtype=np.float32)
    features_kernel(points, lengths, np.asarray(link_chars, dtype=np.float64), np.asarray(breaks, dtype=np.float64),
                    np.asarray(cells, dtype=np.float64), np.asarray(element_ids, dtype=np.int64), table, CHAR_CLASS,
                    IS_UPPER, STOP_CHARS, LOWER, BOILERPLATE_HASHES, out)
    return out
