"""Vectorised MinHash over word n-gram shingles: numpy over a whole batch, no Python loop per word or hash.

A batch of texts becomes one UTF-32 code-point array. One table lookup per code point lowercases it, folds
punctuation and whitespace away and gives every kept character a random 64-bit value; word hashes are
polynomial sums of those values (`np.add.reduceat` over word starts), n-gram hashes are position-weighted
sums of n consecutive word hashes, and permutation j is `a_j * x mod 2**32` on the 32-bit mixed shingle
hash x with a random odd a_j (a bijection, so it adds no collisions), reduced per document with
`np.minimum.reduceat` in cache-sized tiles.
datasketch's "affine32" scheme adds `+ b_j`; on mixed inputs that buys no accuracy (tests/pipeline/
test_minhash.py measures both against the binomial error) and costs a third more time.

Words are runs of letters, digits and combining marks in any script. Scripts written without spaces (Han,
kana, Thai, Lao, Khmer, Myanmar) make one word per character, so their shingles are character n-grams.
A document with fewer than n words has one shingle made of the words it has. A document with no words
gets the all-`EMPTY` signature; LSH never makes such documents candidates (see pipeline/dedup/lsh.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EMPTY = np.uint32(0xFFFFFFFF)  # every slot of the signature of a document without words
_TABLE_SEED = 0x51C3  # fixed: word hashes must not change with the MinHasher seed or between runs
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
# Characters that form a word each: scripts written without spaces between words.
_SINGLE_CHAR_WORD_RANGES = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
)
# Characters per internal sub-batch: bounds every temporary array, and keeps the per-character uint64 arrays
# (2 MB) in cache; 4M-character batches made every pass wait on memory (2.5x slower at 128 permutations).
_CHUNK_CHARS = 1 << 18
_TILE_ELEMENTS = 1 << 20  # permutations x shingles per tile: big enough that numpy's call overhead fades


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array: spreads every input bit over the output."""
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(33)
        x *= np.uint64(0xFF51AFD7ED558CCD)
        x ^= x >> np.uint64(33)
        x *= np.uint64(0xC4CEB9FE1A85EC53)
        x ^= x >> np.uint64(33)
    return x


@lru_cache(maxsize=1)
def char_value_table() -> np.ndarray:
    """For each BMP code point, the random value of its lowercase form: 0 for separators, an odd value for a
    one-character word, an even non-zero value for any other word character (one lookup gives all three)."""
    rng = np.random.default_rng(_TABLE_SEED)
    random_values = rng.integers(1, 2**62, 0x10000, dtype=np.uint64) << np.uint64(1)
    values = np.zeros(0x10000, dtype=np.uint64)
    for cp in range(0x10000):
        ch = chr(cp)
        if unicodedata.category(ch)[0] in "LNM":
            low = ch.lower()
            values[cp] = random_values[ord(low) if len(low) == 1 else cp]
    for lo, hi in _SINGLE_CHAR_WORD_RANGES:
        values[lo : hi + 1][values[lo : hi + 1] != 0] |= np.uint64(1)
    return values


_powers_cache: list[np.ndarray] = []


def word_hash_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """R**i and R**-i mod 2**64 for i < n (at least): weights that make a word hash depend on character order.
    Grown, never shrunk, so batches of varying size reuse one table."""
    if not _powers_cache or _powers_cache[0].size < n:
        size = max(1 << 12, 1 << (int(n) - 1).bit_length())
        base = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
        _powers_cache[:] = [_geometric(base, size), _geometric(pow(base, -1, 2**64), size)]
    return _powers_cache[0], _powers_cache[1]


def _geometric(base: int, size: int) -> np.ndarray:
    """base**i mod 2**64 for i < size (a power of two) by doubling: log2(size) vectorised steps."""
    out = np.empty(size, dtype=np.uint64)
    out[0], filled = 1, 1
    with np.errstate(over="ignore"):
        while filled < size:
            np.multiply(out[:filled], np.uint64(pow(base, filled, 2**64)), out=out[filled : 2 * filled])
            filled *= 2
    return out


@dataclass
class Tokens:
    """Word hashes of a batch, concatenated, and each document's slice of them."""

    word_hashes: np.ndarray  # uint64, all words of all documents in order
    offsets: np.ndarray  # int64, len = n_docs + 1: words of doc i are word_hashes[offsets[i]:offsets[i+1]]


def char_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch joined by newlines as code units (uint16, or uint32 code points when a surrogate shows up),
    and each text's first and end index in it."""
    n = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    doc_starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=doc_starts[1:])
    joined = "\n".join(texts)
    # UTF-16 halves the bytes to encode and scan; it equals the code points unless a surrogate shows up.
    codes = np.frombuffer(joined.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    if codes.size != len(joined) or _has_surrogate(codes):
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codes, doc_starts, doc_starts + lengths


def tokenize(texts: list[str]) -> Tokens:
    """Normalised word hashes (lowercase, punctuation and whitespace folded) for every text of the batch."""
    n = len(texts)
    codes, doc_starts, _ = char_codes(texts)
    table = char_value_table()
    values = table.take(codes) if codes.dtype == np.uint16 else astral_char_values(codes, table)
    is_word = values.astype(bool)
    single = (values & np.uint64(1)).astype(bool)
    # A word starts at a word character that follows a separator, or at or after a one-character word.
    boundary = ~is_word[:-1]
    if single.any():
        boundary |= single[:-1] | single[1:]
    starts = np.flatnonzero(is_word[1:] & boundary) + 1
    if is_word.size and is_word[0]:
        starts = np.concatenate(([0], starts))
    if starts.size == 0:
        return Tokens(np.zeros(0, dtype=np.uint64), np.zeros(n + 1, dtype=np.int64))
    forward, backward = word_hash_powers(values.size)
    with np.errstate(over="ignore"):
        # Separators have value 0, so a segment [start_k, start_k+1) sums the characters of word k only.
        values *= forward[: values.size]
        word_hashes = np.add.reduceat(values, starts)
        word_hashes *= backward[starts]
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[:n] = np.searchsorted(starts, doc_starts)  # words before each document's first character
    offsets[n] = starts.size
    return Tokens(word_hashes, offsets)


def _has_surrogate(codes: np.ndarray) -> bool:
    return bool(np.any((codes >= 0xD800) & (codes <= 0xDFFF)))


def astral_char_values(codes: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Character values of a UTF-32 batch that has code points beyond the BMP (or lone surrogates)."""
    astral = codes > 0xFFFF
    values = table[np.where(astral, 0, codes)]
    cps = codes[astral]
    ideograph = ((cps >= 0x20000) & (cps < 0x40000)).astype(np.uint64)  # CJK extensions: one word each
    values[astral] = ((fmix64(cps.astype(np.uint64) + np.uint64(_TABLE_SEED)) >> np.uint64(2)) << np.uint64(1)
                      | ideograph | np.uint64(2))
    return values


def shingle_hashes(tokens: Tokens, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of every word n-gram, and each document's slice of them (one shingle for short docs)."""
    words = tokens.word_hashes
    counts = np.diff(tokens.offsets)
    per_doc = np.where(counts >= ngram, counts - ngram + 1, np.minimum(counts, 1))
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint32), offsets
    # Word index of each shingle's first word: document d's shingles start at its words offsets[d], +1, ...
    first = np.arange(total, dtype=np.int64)
    first += np.repeat(tokens.offsets[:-1] - offsets[:-1], per_doc)
    weights = _ngram_weights(ngram)
    span = max(words.size - ngram + 1, 0)
    short = np.flatnonzero((counts < ngram) & (counts > 0))
    with np.errstate(over="ignore"):
        # Position-weighted sums at every word of the batch from contiguous slices (no gathers); shingles that
        # would cross a document boundary are computed too and simply not picked.
        every = words[:span] * weights[0]
        for i in range(1, ngram):
            every += words[i : i + span] * weights[i]
        acc = every[np.minimum(first, span - 1)] if span else np.zeros(total, dtype=np.uint64)
        if short.size:  # documents with fewer than n words: one shingle of the words they have
            head, size = tokens.offsets[short], counts[short]
            short_acc = words[head] * weights[0]
            for i in range(1, ngram):
                short_acc += np.where(i < size, words[np.minimum(head + i, words.size - 1)], 0) * weights[i]
            acc[offsets[short]] = short_acc
    hashes = (fmix64(acc) >> np.uint64(32)).astype(np.uint32)
    return hashes, offsets


@lru_cache(maxsize=8)
def _ngram_weights(ngram: int) -> np.ndarray:
    return np.random.default_rng(_TABLE_SEED + ngram).integers(1, 2**63, ngram, dtype=np.uint64) | np.uint64(1)


class MinHasher:
    """`MinHasher(num_perm, ngram, seed).signatures(texts)` -> uint32 array (len(texts), num_perm).

    engine "numba" runs the compiled one-pass kernel (pipeline/dedup/minhash_kernel.py); "numpy" the vectorised
    reference below. Both give the same bits."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1, engine: str = "numba"):
        if num_perm < 1 or ngram < 1:
            raise ValueError(f"num_perm and ngram must be >= 1, got num_perm={num_perm}, ngram={ngram}")
        if engine not in ("numba", "numpy"):
            raise ValueError(f"engine must be 'numba' or 'numpy', got {engine!r}")
        self.num_perm, self.ngram, self.seed, self.engine = num_perm, ngram, seed, engine
        rng = np.random.default_rng(seed)
        self.a = (rng.integers(0, 2**32, num_perm, dtype=np.uint64) | np.uint64(1)).astype(np.uint32)

    def signatures(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        start = 0
        kernel = None
        if self.engine == "numba":
            from pipeline.dedup.minhash_kernel import signatures_kernel as kernel
        for stop in _chunk_bounds(texts):  # bounded memory for any batch, even of 1 MB documents
            if kernel is not None:
                codes, doc_starts, doc_ends = char_codes(texts[start:stop])
                out[start:stop] = EMPTY
                kernel(codes, char_value_table(), doc_starts, doc_ends, _ngram_weights(self.ngram), self.a,
                       out[start:stop])
            else:
                hashes, offsets = shingle_hashes(tokenize(texts[start:stop]), self.ngram)
                out[start:stop] = self.signatures_of_shingles(hashes, offsets)
            start = stop
        return out

    def signatures_of_shingles(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Min over each document's shingles of every permutation; documents without shingles stay EMPTY."""
        n_docs = offsets.size - 1
        sig = np.full((n_docs, self.num_perm), EMPTY, dtype=np.uint32)
        if hashes.size == 0:
            return sig
        doc_of_shingle = np.repeat(np.arange(n_docs), np.diff(offsets))
        perm_block = min(self.num_perm, 128)
        cols = max(1024, _TILE_ELEMENTS // perm_block)
        buf = np.empty((perm_block, cols), dtype=np.uint32)
        for s in range(0, hashes.size, cols):
            x = hashes[s : s + cols]
            docs = doc_of_shingle[s : s + cols]
            seg_first = np.concatenate(([0], np.flatnonzero(docs[1:] != docs[:-1]) + 1))
            seg_docs = docs[seg_first]
            for p in range(0, self.num_perm, perm_block):
                a = self.a[p : p + perm_block, None]
                tile = buf[: a.shape[0], : x.size]
                np.multiply(a, x[None, :], out=tile)
                mins = np.minimum.reduceat(tile, seg_first, axis=1).T
                block = sig[seg_docs, p : p + perm_block]
                sig[seg_docs, p : p + perm_block] = np.minimum(block, mins)
        return sig


def _chunk_bounds(texts: list[str]):
    """End indices of consecutive slices of texts holding about _CHUNK_CHARS characters each."""
    total = 0
    for i, text in enumerate(texts):
        total += len(text) + 1
        if total >= _CHUNK_CHARS:
            yield i + 1
            total = 0
    if total or not texts:
        yield len(texts)


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Share of equal slots; two empty documents estimate 0 (they share no shingle)."""
    if np.all(sig_a == EMPTY) and np.all(sig_b == EMPTY):
        return 0.0
    return float(np.mean(sig_a == sig_b))
