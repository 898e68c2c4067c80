import pytest
import torch

from pipeline.config import ConfigError
from trainer.config import load_config
from trainer.parallel_dims import ParallelConfig, ParallelDims

CPU = torch.device("cpu")


def resolve(world: int, experts: int = 8, **kw) -> ParallelDims:
    return ParallelDims.resolve(ParallelConfig(**kw), experts, 0, world, 0, CPU)


def test_layouts_fill_the_world():
    assert (resolve(8, ep=4).dp_shard, resolve(8, ep=4).ep) == (2, 4)  # dp_shard 0: the rest of the world
    assert resolve(8, dp_shard=2, ep=4).dp_shard == 2
    d = resolve(1)
    assert (d.dp_shard, d.ep, d.distributed, d.build_mesh()) == (1, 1, False, None)  # one rank: no mesh at all
    # ep is the innermost mesh dim: an EP group is a block of neighbouring ranks (one node's links on GPUs)
    assert [ParallelDims(r, 8, 0, CPU, dp_shard=2, ep=4).ep_rank for r in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]


@pytest.mark.parametrize("world, kw, experts, message", [
    (8, {"dp_shard": 4, "ep": 4}, 8, "= 16 ranks, but the job has 8"),
    (6, {"ep": 4}, 8, "ep=4 does not divide the world size 6"),
    (4, {"ep": 4}, 6, "does not divide model.moe.n_routed_experts=6"),
])
def test_bad_layouts_name_the_numbers(world, kw, experts, message):
    with pytest.raises(ValueError, match=message):
        resolve(world, experts, **kw)


def test_parallel_table_is_checked_against_the_model():
    assert load_config("tiny", {"parallel.ep": 2}).parallel.ep == 2
    with pytest.raises(ConfigError, match="parallel.ep=3 does not divide model.moe.n_routed_experts=8"):
        load_config("tiny", {"parallel.ep": 3})
    with pytest.raises(ConfigError, match="parallel.dp_shard"):
        load_config("tiny", {"parallel.dp_shard": -1})
