"""MinHash signatures: agreement with datasketch on the same shingles, tracking exact Jaccard, odd inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline.dedup.lsh import band_hashes, candidate_probability, optimal_bands_rows
from pipeline.dedup.minhash import EMPTY, MinHasher, jaccard_estimate, shingle_hashes, tokenize


def _prose(seed: int, n_words: int = 400) -> list[str]:
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    start = random.Random(seed).randrange(len(words) - n_words)
    return words[start : start + n_words]


def _pairs(n_pairs: int = 40):
    """(text a, text b) pairs whose similarity spans 0.2..0.95: b replaces a random share of a's words."""
    rng = random.Random(7)
    for i in range(n_pairs):
        a = _prose(i)
        b = [w if rng.random() > 0.02 + 0.2 * (i % 10) / 10 else f"x{rng.randrange(10**6)}" for w in a]
        yield " ".join(a), " ".join(b)


def _shingle_sets(text: str, ngram: int = 5) -> set[int]:
    hashes, _ = shingle_hashes(tokenize([text]), ngram)
    return set(hashes.tolist())


def _exact_jaccard(a: str, b: str) -> float:
    sa, sb = _shingle_sets(a), _shingle_sets(b)
    return len(sa & sb) / len(sa | sb)


def test_estimates_track_exact_jaccard_within_the_binomial_error():
    hasher = MinHasher(num_perm=256)
    z = []
    for a, b in _pairs():
        j = _exact_jaccard(a, b)
        sig = hasher.signatures([a, b])
        z.append((jaccard_estimate(sig[0], sig[1]) - j) / np.sqrt(j * (1 - j) / 256))
    z = np.array(z)
    assert abs(z.mean()) < 0.5  # no bias
    assert 0.5 < z.std() < 1.4  # the spread of classic MinHash: J(1-J)/num_perm


def test_error_no_worse_than_datasketch_on_the_same_shingles():
    datasketch = pytest.importorskip("datasketch")
    num_perm = 128
    ours_err, theirs_err = [], []
    for seed in range(3):
        hasher = MinHasher(num_perm=num_perm, seed=seed + 1)
        for a, b in _pairs():
            sa, sb = _shingle_sets(a), _shingle_sets(b)
            j = len(sa & sb) / len(sa | sb)
            sig = hasher.signatures([a, b])
            ours_err.append(jaccard_estimate(sig[0], sig[1]) - j)
            ma, mb = (datasketch.MinHash(num_perm=num_perm, seed=seed + 1) for _ in range(2))
            ma.update_batch([h.to_bytes(4, "little") for h in sa])
            mb.update_batch([h.to_bytes(4, "little") for h in sb])
            theirs_err.append(ma.jaccard(mb) - j)
    ours, theirs = np.sqrt(np.mean(np.square(ours_err))), np.sqrt(np.mean(np.square(theirs_err)))
    assert ours < 1.2 * theirs, (ours, theirs)


def test_normalisation_and_short_documents():
    hasher = MinHasher(num_perm=64, ngram=5)
    sig = hasher.signatures(["", "  ...  ", "hello", "Hello!", "world", "one two", "the quick brown fox jumps over"])
    assert sig.dtype == np.uint32 and sig.shape == (7, 64)
    assert (sig[0] == EMPTY).all() and (sig[1] == EMPTY).all()  # no words: the empty signature
    assert (sig[2] == sig[3]).all()  # case and punctuation folded
    assert not (sig[2] == sig[4]).any()  # different one-word texts do not collide
    assert len({row.tobytes() for row in sig[2:]}) == 4
    assert jaccard_estimate(sig[0], sig[1]) == 0.0


def test_non_latin_scripts_and_batch_independence():
    texts = ["Привет мир, как дела у тебя сегодня вечером", "中文文本去重测试，这是一个句子。",
             "नमस्ते दुनिया यह एक परीक्षण वाक्य है", "مرحبا بالعالم هذه جملة اختبار",
             "日本語のテキストです😀𠀋", "ΑΒΓ αβγ δεζ ηθι κλμ"]
    hasher = MinHasher(num_perm=32)
    together = hasher.signatures(texts)
    alone = np.vstack([hasher.signatures([t]) for t in texts])
    assert (together == alone).all()
    assert not (together == EMPTY).all(axis=1).any()
    assert (hasher.signatures(["ПРИВЕТ МИР, как дела у тебя сегодня вечером"]) == together[0]).all()
    # Han text is split per character, so one changed character keeps most shingles
    a, b = hasher.signatures(["中文文本去重测试这是一个句子", "中文文本去重测试这是一个句号"])
    assert jaccard_estimate(a, b) > 0.5
    assert tokenize(["नमस्ते दुनिया"]).word_hashes.size == 2  # combining marks stay inside words


def test_one_megabyte_text():
    words = _prose(3, 2000)
    rng = random.Random(1)
    text = " ".join(rng.choice(words) for _ in range(180_000))
    assert len(text) > 1_000_000
    sig = MinHasher(num_perm=128).signatures([text, "short text"])
    assert sig.shape == (2, 128) and not (sig == EMPTY).any()


def test_optimal_bands_rows_matches_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold, num_perm in [(0.8, 128), (0.5, 128), (0.9, 256), (0.7, 64)]:
        assert optimal_bands_rows(threshold, num_perm) == lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
    assert candidate_probability(0.8, 128, 16) == pytest.approx(0.974, abs=1e-3)


def test_band_hashes_skip_empty_and_separate_bands():
    sig = MinHasher(num_perm=32).signatures(["", "some words here to hash now", "some words here to hash now"])
    keys = band_hashes(sig, 8, 4)
    assert keys.dtype == np.int64 and (keys[0] == 0).all()
    assert (keys[1] == keys[2]).all() and len(set(keys[1].tolist())) == 8


def test_sub_batches_do_not_change_signatures(monkeypatch):
    import pipeline.dedup.minhash as minhash

    texts = [" ".join(_prose(i, 5 + 40 * (i % 4))) for i in range(30)] + ["", "one", "two words", "中文 😀 x"]
    hasher = MinHasher(num_perm=64)
    whole = hasher.signatures(texts)
    monkeypatch.setattr(minhash, "_CHUNK_CHARS", 500)  # many sub-batches, boundaries inside the batch
    assert (hasher.signatures(texts) == whole).all()
    assert (np.vstack([hasher.signatures([t]) for t in texts]) == whole).all()
    tokens = tokenize(texts)
    hashes, offsets = shingle_hashes(tokens, 5)
    for i, text in enumerate(texts):  # batch-wide shingles equal each document's own
        alone, _ = shingle_hashes(tokenize([text]), 5)
        assert (hashes[offsets[i] : offsets[i + 1]] == alone).all()


def _random_text(rng: random.Random) -> str:
    """Words from several scripts, punctuation, digits, astral characters and lone surrogates, random spacing."""
    alphabet = ("abcdefghijklmnopqrstuvwxyzABCDEFÀÉßçñ0123456789" "ПриветмирΑβγ中文文本日本語のテキストไทยភាសា"
                "नमस्ते" "😀𠀋𝒜" ".,;!?-'\"()")
    pieces = []
    for _ in range(rng.randrange(0, 120)):
        pieces.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 9))))
        pieces.append(rng.choice([" ", "  ", "\n", "\t", "", "-", " — "]))
    if rng.random() < 0.05:
        pieces.append("\ud800")  # a lone surrogate (Python strings can hold one)
    return "".join(pieces)


@pytest.mark.parametrize("num_perm, ngram", [(128, 5), (2048, 5), (7, 1), (33, 3)])
def test_compiled_kernel_equals_the_numpy_reference(num_perm, ngram):
    rng = random.Random(num_perm + ngram)
    texts = [_random_text(rng) for _ in range(150)]
    texts += ["", " ", "...", "one", "One!", "two words", "a b c d", "中", "中文文本去重测试，这是一个句子。",
              "ภาษาไทยไม่มีช่องว่าง", "日本語のテキストです😀𠀋", "\n".join(_prose(5, 40))]
    texts += [" ".join(_prose(i, 300)) for i in range(20)]
    numba_sig = MinHasher(num_perm, ngram, seed=3).signatures(texts)
    numpy_sig = MinHasher(num_perm, ngram, seed=3, engine="numpy").signatures(texts)
    assert numba_sig.dtype == numpy_sig.dtype == np.uint32
    assert (numba_sig == numpy_sig).all()
    for text in texts[-40:]:  # one at a time too (a batch of one has its own layout)
        assert (MinHasher(num_perm, ngram, seed=3).signatures([text]) == numpy_sig[texts.index(text)]).all()


def test_compiled_kernel_on_a_very_long_document():
    rng = random.Random(2)
    words = _prose(9, 3000)
    text = " ".join(rng.choice(words) for _ in range(150_000)) + " 中文😀"
    hasher = MinHasher(256)
    assert (hasher.signatures([text, "x"]) == MinHasher(256, engine="numpy").signatures([text, "x"])).all()
    with pytest.raises(ValueError, match="engine"):
        MinHasher(engine="cuda")


def test_kernel_cache_goes_to_a_temporary_folder_when_the_package_is_read_only(monkeypatch):
    import pipeline.compiled as compiled

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(compiled.os, "access", lambda path, mode: False)
    compiled.prepare_cache_dir()
    import os

    assert "sluice-numba-cache" in os.environ["NUMBA_CACHE_DIR"]
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/else")
    compiled.prepare_cache_dir()  # a user's own setting wins
    assert os.environ["NUMBA_CACHE_DIR"] == "/somewhere/else"
