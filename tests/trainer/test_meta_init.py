"""meta_init on 2 gloo ranks: every rank draws its own shards in place (no two ranks the same values), from the
single-device distribution, the same values again for the same seed; with expert parallelism too."""

import json

import pytest

from tests.trainer.multiprocess import run_on_ranks


def _build(rank: int, world: int, out_dir: str) -> None:
    import torch

    from trainer.config import load_config
    from trainer.parallel_dims import ParallelConfig, ParallelDims
    from trainer.parallelize import build_model

    report = {}
    for ep in (1, 2):
        cfg = load_config("tiny", {"model.vocab_size": 512}).model
        dims = ParallelDims.resolve(ParallelConfig(ep=ep), 8, rank, world, rank, torch.device("cpu"))
        shards = []
        for _ in range(2):  # the same seed twice
            model = build_model(cfg, dims, bf16=False, meta_init=True, seed=3)
            shards.append({n: p.to_local().detach().clone() for n, p in model.named_parameters()})
        same_seed = all(torch.equal(shards[0][n], shards[1][n]) for n in shards[0])
        rows = {}
        for name, local in shards[0].items():
            flat = local.flatten()[:64].contiguous()
            everyone = [torch.empty_like(flat) for _ in range(world)]
            torch.distributed.all_gather(everyone, flat)
            rows[name] = {"distinct": not torch.equal(everyone[0], everyone[1]), "std": float(local.std()),
                          "mean": float(local.mean())}
        report[f"ep{ep}"] = {"same_seed": same_seed, "params": rows}
    if rank == 0:
        with open(f"{out_dir}/meta.json", "w") as f:
            json.dump(report, f)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("meta_init")
    run_on_ranks(2, _build, str(out))
    return json.loads((out / "meta.json").read_text())


@pytest.mark.parametrize("layout", ["ep1", "ep2"])
def test_meta_init_draws_distinct_shards_per_rank(report, layout):
    r = report[layout]
    assert r["same_seed"]
    for name, p in r["params"].items():
        if name.endswith("norm.weight"):
            assert p["std"] == 0 and p["mean"] == 1.0
        else:
            assert p["distinct"], name  # ranks drew different values
            assert p["std"] == pytest.approx(0.006, rel=0.25), name
