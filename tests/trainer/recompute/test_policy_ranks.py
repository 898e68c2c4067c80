"""Mimose on 2 gloo ranks that see different batch shapes: the ranks leave collection at the same step (an
all-reduced ready flag), run the same plan every step, and the plan leaves full recompute after collection."""

import json

import pytest

from tests.trainer.multiprocess import run_on_ranks

STEPS = 12


def _train(rank: int, world: int, shard_dir: str, out_dir: str) -> None:
    from trainer.config import load_config
    from trainer.loop import train

    cfg = load_config("tiny", {"train.steps": STEPS, "save.every": 0, "save.at_end": False,
                               "recompute.mode": "mimose", "recompute.budget": 1e12,
                               "recompute.collect_steps": 2, "recompute.collect_max_steps": 16})
    history = train(cfg, shard_dir, f"{out_dir}/run")
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump([{k: m[k] for k in ("batch_shape", "recompute_plan", "plan_source")} for m in history], f)


@pytest.fixture(scope="module")
def ranks(shard_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mimose_ranks")
    run_on_ranks(2, _train, str(shard_dir), str(out))
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_ranks_plan_together_and_leave_full_recompute_after_collection(ranks):
    r0, r1 = ranks
    assert [m["batch_shape"] for m in r0] != [m["batch_shape"] for m in r1]  # the ranks do see different shapes
    assert [m["recompute_plan"] for m in r0] == [m["recompute_plan"] for m in r1]
    collecting = [[m["plan_source"] == "collect" for m in r] for r in ranks]
    first_planned = collecting[0].index(False)
    assert collecting[1].index(False) == first_planned < STEPS - 2  # both leave the first collection together
    # the ranks share their measurements, so neither meets a shape outside the measured range again here
    assert [m["recompute_plan"] for m in r0[first_planned:]] == ["..."] * (STEPS - first_planned)

