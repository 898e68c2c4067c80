import numpy as np
import pytest
import torch

from tests.trainer.recompute.helpers import batch, policy_step, tiny_model
from trainer.config import RecomputeConfig, load_config
from trainer.loop import train
from trainer.moe import update_expert_biases
from trainer.recompute import (
    ActivationMeter,
    FixedRecompute,
    InputAwareRecompute,
    build_recompute_policy,
    resolve_budget,
)


def test_budget_resolution_and_its_errors():
    cpu = torch.device("cpu")
    assert resolve_budget(RecomputeConfig(budget=1e6), cpu) == (1e6, "activations")
    assert resolve_budget(RecomputeConfig(), cpu)[0] == float("inf")
    with pytest.raises(ValueError, match="fraction of device memory"):
        resolve_budget(RecomputeConfig(budget=0.5), cpu)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_budget(RecomputeConfig(budget=1e6, budget_scope="device"), cpu)
    with pytest.raises(Exception, match="poly_degree"):
        load_config("tiny", {"recompute.poly_degree": 7})



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
                 "recompute.mode": mode, "recompute.budget": 15e6, "recompute.collect_steps": 2,
                 "recompute.poly_degree": 1}
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


def test_one_entry_point_builds_every_mode():
    model = tiny_model()
    for mode, kind in [("none", FixedRecompute), ("full", FixedRecompute), ("static", InputAwareRecompute),
                       ("mimose", InputAwareRecompute)]:
        cfg = load_config("tiny", {"recompute.mode": mode, "recompute.budget": 15e6})
        policy = build_recompute_policy(cfg, model, torch.device("cpu"))
        assert isinstance(policy, kind)
    assert build_recompute_policy(load_config("tiny", {"recompute.mode": "full"}), model, "cpu").plan((1, 8)) \
        == [True] * 3
