"""The recompute planner: which blocks to recompute so the predicted peak fits a memory budget at the least
predicted recompute time. Pure numpy; the memory model is in trainer/recompute/__init__.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class PlanChoice:
    recompute: tuple[bool, ...]
    peak_bytes: float  # predicted, margin excluded
    cost_s: float  # predicted recompute time
    fits: bool


_MASKS: dict[int, np.ndarray] = {}


def _all_subsets(n: int) -> np.ndarray:
    if n not in _MASKS:
        _MASKS[n] = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    return _MASKS[n]


def choose_recompute(kept: Sequence[float], inputs: Sequence[float], cost: Sequence[float], fixed: float,
                     budget: float, exact_max_blocks: int = 16) -> PlanChoice:
    """The cheapest set of blocks to recompute whose predicted peak (see the module docstring) is <= budget.

    Only blocks that save memory are candidates. Up to `exact_max_blocks` candidates every subset is scored
    (vectorised: 2^16 subsets take a few ms); beyond, for each bound W on the recompute working set, blocks whose
    saving is <= W are taken by saved bytes per recompute second until the plan fits, then redundant ones are
    dropped. When nothing fits, every candidate is recomputed (the lowest peak) and `fits` is False.
    """
    kept_a, inputs_a, cost_a = (np.asarray(v, dtype=np.float64) for v in (kept, inputs, cost))
    saved_a = np.clip(kept_a - inputs_a, 0.0, None)
    base = fixed + float(kept_a.sum())
    useful = [i for i in range(len(kept_a)) if saved_a[i] > 0]

    def result(chosen: Sequence[int]) -> PlanChoice:
        s = saved_a[list(chosen)]
        peak = base - float(s.sum()) + (float(s.max()) if len(s) else 0.0)
        return PlanChoice(tuple(i in set(chosen) for i in range(len(kept_a))), peak,
                          float(cost_a[list(chosen)].sum()), peak <= budget)

    if base <= budget or not useful:
        return result([])
    if len(useful) <= exact_max_blocks:
        masks = _all_subsets(len(useful))
        s = saved_a[useful]
        peak = base - masks @ s + (masks * s).max(axis=1)
        total_cost = masks @ cost_a[useful]
        # cheapest feasible; ties broken by lower peak, then by mask order (earlier blocks: their recompute
        # happens late in backward, when most other activations are already freed)
        key = np.where(peak <= budget, total_cost, np.inf)
        best = np.lexsort((peak, key))[0]
        if not np.isfinite(key[best]):
            best = int(np.argmin(peak))
        return result([useful[j] for j in np.flatnonzero(masks[best])])
    return _greedy(useful, saved_a, cost_a, base, budget, result)


def _greedy(useful, saved_a, cost_a, base, budget, result) -> PlanChoice:
    by_ratio = sorted(useful, key=lambda i: (-saved_a[i] / max(cost_a[i], 1e-12), i))
    best: PlanChoice | None = None
    for bound in sorted({float(saved_a[i]) for i in useful}):
        chosen: list[int] = []
        for i in by_ratio:
            if saved_a[i] <= bound and not result(chosen).fits:
                chosen.append(i)
        if not result(chosen).fits:
            continue
        for i in reversed(list(chosen)):  # worst ratio first: drop what the fit no longer needs
            if result([j for j in chosen if j != i]).fits:
                chosen.remove(i)
        c = result(chosen)
        if best is None or (c.cost_s, c.peak_bytes) < (best.cost_s, best.peak_bytes):
            best = c
    return best if best is not None else result(useful)

