"""Precision does what the config says: the routed experts compute in the autocast dtype when train.bf16 autocasts
and in the input's dtype otherwise; the gate sees fp32 weights and inputs under FSDP's bf16 parameters when
moe.router_fp32 (its own FSDP group), and bf16 ones when not."""

import json

import pytest
import torch

from tests.trainer.multiprocess import run_on_ranks
from trainer.moe import GroupedExperts, MoEConfig


@pytest.mark.parametrize("autocast", [False, True])
def test_grouped_experts_follow_the_autocast_dtype(autocast):
    experts = GroupedExperts(16, MoEConfig(n_routed_experts=4, top_k=2, expert_ffn_dim=8))
    torch.nn.init.normal_(experts.w1)
    torch.nn.init.normal_(experts.w2)
    torch.nn.init.normal_(experts.w3)
    seen = []
    experts.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    x = torch.randn(12, 16, dtype=torch.bfloat16 if autocast else torch.float32)  # MoE casts its input likewise
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        experts(x, torch.tensor([3, 3, 6, 0]))
    assert seen == [torch.bfloat16 if autocast else torch.float32]


def _router_dtypes(rank: int, world: int, out: str) -> None:
    from trainer.config import load_config
    from trainer.parallel_dims import ParallelConfig, ParallelDims
    from trainer.parallelize import apply_fsdp

    report = {}
    for fp32 in (True, False):
        cfg = load_config("tiny", {"model.vocab_size": 64, "model.moe.router_fp32": fp32}).model
        torch.manual_seed(0)
        model = cfg.build("cpu")
        apply_fsdp(model, ParallelDims.resolve(ParallelConfig(), 8, rank, world, rank, torch.device("cpu")), bf16=True)
        seen = []
        for moe in model.moe_layers():
            moe.router.register_forward_hook(
                lambda m, a, o, seen=seen: seen.append([str(m.gate.weight.dtype), str(a[0].dtype)]))
        x = torch.randint(0, 64, (2, 16))
        model(x, x).backward()
        report[str(fp32)] = seen
    if rank == 0:
        with open(out, "w") as f:
            json.dump(report, f)


def test_router_runs_in_fp32_under_fsdp_bf16_when_configured(tmp_path):
    run_on_ranks(2, _router_dtypes, str(tmp_path / "dtypes.json"))
    report = json.loads((tmp_path / "dtypes.json").read_text())
    assert report["True"] == [["torch.float32", "torch.float32"]] * 2
    assert report["False"] == [["torch.bfloat16", "torch.bfloat16"]] * 2
