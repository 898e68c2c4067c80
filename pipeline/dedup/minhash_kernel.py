"""Compiled MinHash: one pass over a batch's characters that builds words, shingles and every permutation's
running minimum, with no shingles x permutations temporary.

Bit-identical to MinHasher's numpy path (pipeline/dedup/minhash.py), which stays the reference: the same character
values, the same word polynomial (sum of value_k * R**k over a word's characters, mod 2**64), the same
position-weighted shingle sums, the same 32-bit mixed shingle hash and the same `a_j * x mod 2**32`
permutations. Modular arithmetic makes the order of evaluation irrelevant, so the results agree bit for bit
(tests/pipeline/dedup/test_minhash.py checks random, empty, one-word, spaceless-script and very long documents).

Imported lazily (by MinHasher) because numba is heavy; compiled and cached as pipeline/compiled.py says.
"""

from __future__ import annotations

import numpy as np

from pipeline.compiled import jit as _jit

WORD_BASE = np.uint64(0x9E3779B97F4A7C15)  # R of the word polynomial: pipeline.dedup.minhash.word_hash_powers' base
TABLE_SEED = np.uint64(0x51C3)  # pipeline.dedup.minhash._TABLE_SEED: values of characters beyond the BMP
_ONE, _TWO, _ZERO = np.uint64(1), np.uint64(2), np.uint64(0)
_S33, _S32 = np.uint64(33), np.uint64(32)
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)  # fmix64's multipliers


@_jit(inline="always")
def _fmix64(x):
    x ^= x >> _S33
    x *= _M1
    x ^= x >> _S33
    x *= _M2
    x ^= x >> _S33
    return x


@_jit(inline="always")
def _char_value(code, table):
    """pipeline.dedup.minhash's value of one code point: its table entry in the BMP, a mixed value beyond it."""
    if code <= 0xFFFF:
        return table[code]
    ideograph = _ONE if 0x20000 <= code < 0x40000 else _ZERO  # CJK extensions: one word each
    return ((_fmix64(np.uint64(code) + TABLE_SEED) >> _TWO) << _ONE) | ideograph | _TWO


@_jit(inline="always")
def _shingle_hash(acc):
    return np.uint32(_fmix64(acc) >> _S32)  # fmix64's high half, as pipeline.dedup.minhash.shingle_hashes


@_jit(inline="always")
def _lower_mins(row, a, xs, n):
    """Lower the document's minimum of every permutation by its n shingle hashes xs[:n]. Four shingles per
    pass over the row: a quarter of the row's loads and stores (3x faster at 2,048 permutations); the loop
    over permutations vectorises."""
    s = 0
    while s + 4 <= n:
        x0, x1, x2, x3 = xs[s], xs[s + 1], xs[s + 2], xs[s + 3]
        for j in range(a.size):
            aj = a[j]
            m01 = min(np.uint32(aj * x0), np.uint32(aj * x1))
            m23 = min(np.uint32(aj * x2), np.uint32(aj * x3))
            row[j] = min(row[j], min(m01, m23))
        s += 4
    while s < n:
        x = xs[s]
        for j in range(a.size):
            row[j] = min(row[j], np.uint32(a[j] * x))
        s += 1


@_jit()
def signatures_kernel(codes, table, doc_starts, doc_ends, weights, a, out):
    """Lower out[d] (pre-filled with EMPTY) to document d's MinHash signature.

    codes: the batch's code units (pipeline.dedup.minhash.char_codes); document d is codes[doc_starts[d]:doc_ends[d]];
    table: uint64 value per BMP code point (0 separator, odd one-character word, even other word character);
    weights: uint64 per shingle position (its length is the n-gram size); a: uint32 multiplier per permutation."""
    ngram = weights.size
    last = np.zeros(ngram, dtype=np.uint64)  # the last ngram word hashes, oldest first
    longest = 0
    for d in range(doc_starts.size):
        longest = max(longest, doc_ends[d] - doc_starts[d])
    xs = np.empty(longest + 1, dtype=np.uint32)  # one document's shingle hashes (at most one per character)
    for d in range(doc_starts.size):
        n_words = 0
        n_shingles = 0
        h, p = _ZERO, _ONE
        in_word, prev_single = False, False
        end = doc_ends[d]
        for c in range(doc_starts[d], end + 1):
            v = _char_value(codes[c], table) if c < end else _ZERO  # a separator after the end closes the last word
            single = (v & _ONE) == _ONE
            if in_word and (v == _ZERO or prev_single or single):  # the current word is complete
                for i in range(ngram - 1):
                    last[i] = last[i + 1]
                last[ngram - 1] = h
                n_words += 1
                if n_words >= ngram:
                    acc = _ZERO
                    for i in range(ngram):
                        acc += last[i] * weights[i]
                    xs[n_shingles] = _shingle_hash(acc)
                    n_shingles += 1
                in_word = False
            if v == _ZERO:
                continue
            if in_word:
                h += v * p
                p *= WORD_BASE
            else:
                h, p, in_word = v, WORD_BASE, True
            prev_single = single
        if 0 < n_words < ngram:  # fewer words than a shingle: one shingle of the words there are
            acc = _ZERO
            for i in range(n_words):
                acc += last[ngram - n_words + i] * weights[i]
            xs[0] = _shingle_hash(acc)
            n_shingles = 1
        _lower_mins(out[d], a, xs, n_shingles)
