import itertools

import numpy as np
import pytest
import torch

from trainer.checkpointing import (
    ActivationMeter,
    InputAwareRecompute,
    ShapeLaw,
    choose_recompute,
    poly_features,
    resolve_budget,
)
from trainer.config import RecomputeConfig, load_config
from trainer.loop import train
from trainer.moe import update_expert_biases


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return load_config("tiny").model.build()


def batch(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 512, shape, generator=g), torch.randint(0, 512, shape, generator=g)


def policy_step(model, policy, shape, seed=0) -> dict:
    """What trainer/loop.py does around one step, without the optimizer."""
    x, y = batch(shape, seed)
    model.set_recompute_plan(policy.plan(shape))
    model(x, y).backward()
    model.zero_grad(set_to_none=True)
    metrics = {"step_time_s": 0.01}
    policy.after_step(metrics)
    return metrics


# --- predictor -----------------------------------------------------------------------------------------------------

def test_shape_law_recovers_linear_and_quadratic_memory_laws():
    linear, quadratic = ShapeLaw(poly_features(1)), ShapeLaw(poly_features(2))
    for B, S in [(8, 64), (2, 128), (16, 48), (2, 512), (1, 96)]:
        T = B * S
        linear.add((B, S), 4096 + 48 * T)
        quadratic.add((B, S), 4096 + 48 * T + 2 * T * S)  # e.g. materialised attention weights
    assert linear.predict((3, 1000)) == pytest.approx(4096 + 48 * 3000, rel=1e-9)
    assert quadratic.predict((3, 1000)) == pytest.approx(4096 + 48 * 3000 + 2 * 3000 * 1000, rel=1e-9)
    assert quadratic.held_out_error() < 1e-9 and linear.held_out_error() < 1e-9
    # the linear law cannot express the attention term: its held-out error says so
    wrong = ShapeLaw(poly_features(1))
    for shape in quadratic.shapes:
        wrong.add(shape, quadratic.predict(shape))
    assert wrong.held_out_error() > 0.1


def test_shape_law_with_fewer_shapes_than_terms_fits_proportional_then_affine():
    law = ShapeLaw(poly_features(2))
    law.add((4, 32), 1000.0)
    assert law.predict((8, 32)) == pytest.approx(2000.0)  # one shape: bytes proportional to tokens
    law.add((8, 32), 1500.0)
    assert law.predict((16, 32)) == pytest.approx(2500.0)  # two: affine in tokens


def test_meter_counts_each_block_and_what_the_plan_really_keeps():
    model = tiny_model()
    meter = ActivationMeter(model)
    x, y = batch((4, 32))
    kept = {}
    for plan in ([False] * 3, [True] * 3, [True, False, True]):
        model.set_recompute_plan(plan)
        meter.start((4, 32))
        model(x, y).backward()
        kept[tuple(plan)] = m = meter.stop()
    none, full, mixed = kept.values()
    assert none.block_bytes == full.block_bytes == mixed.block_bytes  # measured whatever the plan
    assert all(i == 4 * 32 * 64 * 4 for i in none.input_bytes)  # fp32 input of each block
    other = none.kept_bytes - sum(none.block_bytes)
    assert full.kept_bytes == other + sum(full.input_bytes)
    assert mixed.kept_bytes == other + none.input_bytes[0] + none.block_bytes[1] + none.input_bytes[2]
    working = max(a - i for a, i in zip(m.block_bytes, m.input_bytes, strict=True))
    assert full.peak_bytes([True] * 3) == full.kept_bytes + working
    assert not meter.running and model(x, y).requires_grad  # hooks gone


# --- planner -------------------------------------------------------------------------------------------------------

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


def test_budget_resolution_and_its_errors():
    cpu = torch.device("cpu")
    assert resolve_budget(RecomputeConfig(budget=1e6), cpu) == (1e6, "activations")
    assert resolve_budget(RecomputeConfig(), cpu)[0] == float("inf")
    with pytest.raises(ValueError, match="fraction of device memory"):
        resolve_budget(RecomputeConfig(budget=0.5), cpu)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_budget(RecomputeConfig(budget=1e6, budget_scope="device"), cpu)
    with pytest.raises(Exception, match="poly_degree"):
        load_config("tiny", {"checkpointing.poly_degree": 7})


# --- the policy ----------------------------------------------------------------------------------------------------

def make_policy(model, budget, **overrides):
    rc = RecomputeConfig(mode="mimose", budget=budget, collect_steps=3, verify_every=1, **overrides)
    return InputAwareRecompute(rc, model, torch.device("cpu"), largest_shape=(8, 128))


def test_mimose_collects_then_plans_per_shape_caches_and_recollects_out_of_range():
    model = tiny_model()
    policy = make_policy(model, budget=12e6)
    assert policy.plan((4, 32)) == [True] * 3 and policy.meter.running  # a collection step, measured
    policy.abort_step()  # e.g. out of memory: nothing recorded, hooks removed
    assert not policy.meter.running and policy.stats.collect_steps == 0
    kinds = [policy_step(model, policy, s)["plan_source"] for s in [(4, 32), (8, 32), (2, 64)]]
    assert kinds == ["collect"] * 3 and policy.fitted
    first = policy_step(model, policy, (4, 48))
    assert first["plan_source"] == "new"
    hit = policy.plan((4, 48))
    policy.abort_step()
    again = policy_step(model, policy, (4, 47))  # same bucket (seq rounded up to 48)
    assert again["plan_source"] == "cache" and again["recompute_plan"] == first["recompute_plan"]
    assert hit == [c == "R" for c in first["recompute_plan"]]
    assert again["plan_time_us"] < 100 < first["plan_time_us"]  # a dict lookup vs fitting and searching
    assert policy_step(model, policy, (8, 128))["plan_source"] == "collect"  # beyond the measured range
    assert policy_step(model, policy, (8, 128))["plan_source"] == "new"  # refitted, cache was cleared
    s = policy.summary()
    assert s["collect_steps"] == 4 and s["cache_hits"] == 2 and s["held_out_block_error"] < 0.05


def test_mimose_plans_fit_the_budget_and_predictions_match_measurements():
    model = tiny_model()
    meter = ActivationMeter(model)
    meter.start((8, 128))
    model(*batch((8, 128))).backward()
    model.zero_grad(set_to_none=True)
    budget = 0.6 * meter.stop().peak_bytes([False] * 3)  # the largest shape cannot run without recompute
    policy = make_policy(model, budget=budget)
    shapes = [(2, 32), (8, 128), (4, 64), (8, 112), (6, 96), (3, 80), (8, 64), (2, 128), (4, 32), (8, 120)]
    metrics = [policy_step(model, policy, s, seed=i) for i, s in enumerate(shapes)]
    planned = [m for m in metrics if m["plan_source"] != "collect"]
    assert len(planned) == 7
    assert all(m["measured_mem_bytes"] <= budget for m in planned)
    assert any(m["recompute_plan"] == "..." for m in planned)  # small shapes keep every block
    assert any("R" in m["recompute_plan"] for m in planned)
    assert policy.summary()["prediction_error"] < 0.05


def test_plan_switches_mid_training_give_the_gradients_of_no_recompute():
    reference, switched = tiny_model(seed=1), tiny_model(seed=1)
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2) for m in (reference, switched)]
    plans = [[True, False, True], [False] * 3, [True] * 3, [False, True, False]]
    shapes = [(4, 32), (2, 64), (8, 16), (4, 40)]
    for step, (plan, shape) in enumerate(zip(plans, shapes, strict=True)):
        switched.set_recompute_plan(plan)
        x, y = batch(shape, seed=step)
        for model in (reference, switched):
            model(x, y).backward()
        for p, q in zip(reference.parameters(), switched.parameters(), strict=True):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7)
        for model, opt in zip((reference, switched), opts, strict=True):
            opt.step()
            opt.zero_grad(set_to_none=True)
            update_expert_biases(model.moe_layers())  # routing load counted once, also when recomputed
        for p, q in zip(reference.buffers(), switched.buffers(), strict=True):
            torch.testing.assert_close(q, p)


@pytest.mark.parametrize("mode", ["none", "full", "static", "mimose"])
def test_every_mode_trains_the_tiny_config(mode, shard_dir, tmp_path):
    overrides = {"train.steps": 6, "train.log_every": 100, "save.every": 0, "save.at_end": False,
                 "checkpointing.mode": mode, "checkpointing.budget": 15e6, "checkpointing.collect_steps": 2,
                 "checkpointing.poly_degree": 1}
    history = train(load_config("tiny", overrides), shard_dir, tmp_path / mode)
    assert len(history) == 6 and all(np.isfinite(m["loss"]) for m in history)
    recomputed = [m["recomputed_blocks"] for m in history]
    if mode in ("none", "full"):
        assert recomputed == [0 if mode == "none" else 3] * 6
    else:
        assert [m["plan_source"] for m in history[:2]] == ["collect", "collect"] and recomputed[:2] == [3, 3]
        assert all("predicted_mem_bytes" in m for m in history[2:])
    if mode == "static":
        assert len({m["recompute_plan"] for m in history[2:]}) == 1
