"""LSH banding of MinHash signatures: choosing bands x rows from a threshold, and one hash per band.

Two documents become near-duplicate candidates when any band of their signatures is equal, which happens
with probability 1 - (1 - J**rows)**bands for Jaccard similarity J. `optimal_bands_rows` picks the split
that minimises the weighted areas under that curve below the threshold (false positives) and above it
(false negatives), as datasketch's MinHashLSH does; the integrals here are Simpson's rule on a fine grid,
vectorised over every split at once. Unconstrained, that split can put the S-curve's midpoint (1/bands)**(1/rows)
far from the threshold (9 x 13 over 128 hashes at 0.8: midpoint 0.844, so pairs at J 0.8-0.85 are mostly
missed); `threshold_bands_rows` minimises the same error among the splits whose midpoint lies within 0.02 of the
threshold.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from pipeline.dedup.minhash import EMPTY, fmix64

_GRID = 2049  # Simpson points per integral; odd


def candidate_probability(similarity, bands: int, rows: int):
    """Probability that two documents with this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=float) ** rows) ** bands


def _simpson(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Integral over [lo, hi] of each row of values sampled on np.linspace(lo, hi, _GRID)."""
    h = (hi - lo) / (values.shape[-1] - 1)
    inner = 4 * values[..., 1:-1:2].sum(-1) + 2 * values[..., 2:-1:2].sum(-1)
    return h / 3 * (values[..., 0] + values[..., -1] + inner)


@lru_cache(maxsize=64)
def optimal_bands_rows(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising fp_weight * FP + fn_weight * FN."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if abs(fp_weight + fn_weight - 1.0) > 1e-9:
        raise ValueError(f"fp_weight + fn_weight must be 1, got {fp_weight} + {fn_weight}")
    below = np.linspace(0.0, threshold, _GRID)
    above = np.linspace(threshold, 1.0, _GRID)
    best, best_error = (1, 1), np.inf
    for rows in range(1, num_perm + 1):  # one vectorised step per row count, over every band count
        bands = np.arange(1, num_perm // rows + 1, dtype=float)[:, None]
        fp = _simpson(1.0 - (1.0 - below**rows) ** bands, 0.0, threshold)
        fn = _simpson((1.0 - above**rows) ** bands, threshold, 1.0)
        error = fp_weight * fp + fn_weight * fn
        i = int(np.argmin(error))
        if error[i] < best_error - 1e-12:
            best, best_error = (i + 1, rows), float(error[i])
    return best


def s_curve_midpoint(bands: int, rows: int) -> float:
    """The Jaccard similarity where the candidate S-curve turns: (1/bands)**(1/rows)."""
    return (1.0 / bands) ** (1.0 / rows)


@lru_cache(maxsize=64)
def threshold_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5,
                         tolerance: float = 0.02) -> tuple[int, int]:
    """(bands, rows), bands * rows <= num_perm, whose S-curve midpoint is within `tolerance` of the threshold,
    minimising fp_weight * FP + (1 - fp_weight) * FN (ties to fewer bands: less to shuffle); the split with
    the nearest midpoint when none is that close (few hashes)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    splits = [(b, r) for r in range(1, num_perm + 1) for b in range(1, num_perm // r + 1)]
    near = [s for s in splits if abs(s_curve_midpoint(*s) - threshold) <= tolerance]
    if not near:
        return min(splits, key=lambda s: (abs(s_curve_midpoint(*s) - threshold), s[0]))
    below = np.linspace(0.0, threshold, _GRID)
    above = np.linspace(threshold, 1.0, _GRID)
    bands = np.array([b for b, _ in near], dtype=float)[:, None]
    rows = np.array([r for _, r in near], dtype=float)[:, None]
    fp = _simpson(1.0 - (1.0 - below**rows) ** bands, 0.0, threshold)
    fn = _simpson((1.0 - above**rows) ** bands, threshold, 1.0)
    error = fp_weight * fp + (1.0 - fp_weight) * fn
    best = min(range(len(near)), key=lambda i: (round(float(error[i]), 12), near[i][0]))
    return near[best]


def band_hashes(signatures: np.ndarray, bands: int, rows: int, seed: int = 1) -> np.ndarray:
    """One signed 64-bit key per (document, band); the band number is mixed in, so keys of different bands
    never meet. Rows of an empty document (all EMPTY) get key 0 in every band: callers skip them."""
    n, num_perm = signatures.shape
    if bands * rows > num_perm:
        raise ValueError(f"bands * rows = {bands * rows} exceeds the signature length {num_perm}")
    rng = np.random.default_rng(seed + 0x15A)
    row_weights = rng.integers(1, 2**63, rows, dtype=np.uint64) | np.uint64(1)
    band_salts = rng.integers(1, 2**63, bands, dtype=np.uint64)
    cells = signatures[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = (cells * row_weights).sum(axis=2, dtype=np.uint64) + band_salts
    keys = fmix64(keys)
    keys[np.all(signatures == EMPTY, axis=1)] = 0
    return keys.view(np.int64)


def is_empty_signature(signatures: np.ndarray) -> np.ndarray:
    return np.all(signatures == EMPTY, axis=1)


def min_equal_slots(threshold: float, num_perm: int) -> int:
    """Equal signature slots that make an estimated Jaccard (equal / num_perm) reach the threshold; integer,
    so the decision has no floating-point edge."""
    return max(1, math.ceil(threshold * num_perm - 1e-9))


def verified(sig_a: np.ndarray, sig_b: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each pair of signatures (rows of sig_a, sig_b, or one pair) estimates a Jaccard >= threshold."""
    sig_a, sig_b = np.atleast_2d(sig_a), np.atleast_2d(sig_b)
    equal = (sig_a == sig_b).sum(axis=1)
    return equal >= min_equal_slots(threshold, sig_a.shape[1])
