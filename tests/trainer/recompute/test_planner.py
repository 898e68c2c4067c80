import itertools

import numpy as np
import pytest

from trainer.recompute import choose_recompute


def brute_force(kept, inputs, cost, fixed, budget):
    best = None
    for r in itertools.product([False, True], repeat=len(kept)):
        saved = [k - i for k, i, x in zip(kept, inputs, r, strict=True) if x]
        peak = fixed + sum(i if x else k for k, i, x in zip(kept, inputs, r, strict=True)) + max(saved, default=0)
        c = sum(ci for ci, x in zip(cost, r, strict=True) if x)
        if peak <= budget and (best is None or c < best - 1e-12):
            best = c
    return best


def test_planner_respects_the_budget_and_finds_the_cheapest_plan():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(2, 8))
        kept = rng.uniform(50, 100, n)
        inputs = rng.uniform(1, 10, n)
        cost = rng.uniform(0.5, 2.0, n)
        budget = rng.uniform(0.3, 1.0) * kept.sum() + 20
        optimum = brute_force(kept, inputs, cost, 20.0, budget)
        for exact_max in (16, 0):  # exhaustive, and greedy
            choice = choose_recompute(kept, inputs, cost, 20.0, budget, exact_max_blocks=exact_max)
            assert choice.fits == (optimum is not None)  # greedy finds a fitting plan whenever one exists
            if choice.fits:
                assert choice.peak_bytes <= budget
                if exact_max:
                    assert choice.cost_s == pytest.approx(optimum)
                else:
                    assert choice.cost_s <= optimum * 1.5


def test_planner_prefers_blocks_with_the_best_bytes_saved_per_recompute_second():
    # blocks 0..3 save 100, 100, 200, 100 bytes (inputs 0) at recompute costs 5, 1, 4, 2 s
    kept, inputs, cost = [100, 100, 200, 100], [0, 0, 0, 0], [5.0, 1.0, 4.0, 2.0]
    for exact_max in (16, 0):
        # must save 100 (+ working set 100): blocks 1 and 3 (2 x 100 at 3 s) beat block 2 alone (200 at 4 s)
        choice = choose_recompute(kept, inputs, cost, 0, 400, exact_max_blocks=exact_max)
        assert choice.recompute == (False, True, False, True) and choice.peak_bytes == 400
        # nothing to save: no recompute; unreachable budget: everything, flagged
        assert choose_recompute(kept, inputs, cost, 0, 500, exact_max).recompute == (False,) * 4
        impossible = choose_recompute(kept, inputs, cost, 0, 10, exact_max)
        assert not impossible.fits and impossible.recompute == (True,) * 4

