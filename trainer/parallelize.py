"""Everything that depends on how many devices there are, applied to a built model from outside.

The model never branches on the parallel backend. Order: move to device -> compile blocks -> expert parallelism
-> FSDP2 (routed experts over "dp_shard", then every block and the root over all ranks). One rank: no wrapping at
all, so the single-device run stays the reference the parallel runs are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from trainer.parallel_dims import ParallelDims, init_distributed, pick_device, shutdown

__all__ = ["ParallelDims", "init_distributed", "pick_device", "shutdown", "build_model", "parallelize",
           "clip_grad_norm_", "agree_recompute_plan", "RankCollectives"]


def build_model(cfg, dims: ParallelDims, compile_blocks: bool = False, bf16: bool = True, meta_init: bool = False,
                seed: int = 0):
    """The model for this rank, parallelized. With `meta_init` (and several ranks) it is built on the meta device,
    sharded, then materialised shard by shard: each rank draws its own shards from a generator seeded by (seed,
    rank), the same distribution as a single-device run with other values (DTensor's random ops would give every
    rank the same values on a CPU mesh), and buffers are zeroed before `init_weights` sets them."""
    if not (meta_init and dims.distributed):
        return parallelize(cfg.build(dims.device), dims, compile_blocks, bf16)
    model = parallelize(cfg.build("meta"), dims, compile_blocks, bf16)
    model.to_empty(device=dims.device)
    with torch.no_grad():
        for buffer in model.buffers():
            buffer.zero_()
        generator = torch.Generator(device=dims.device).manual_seed(seed * 65536 + dims.rank)
        model.init_weights(generator)
    return model


def parallelize(model: nn.Module, dims: ParallelDims, compile_blocks: bool = False, bf16: bool = True) -> nn.Module:
    """Shards `model` in place and returns it (FSDP2 keeps the module, so saving and inspecting use it too).

    Blocks are compiled one by one (as torchtitan does) so the Python loop over blocks, which reads the
    activation-recompute plan, is never traced: changing the plan cannot trigger a recompilation.
    """
    if not any(p.is_meta for p in model.parameters()):
        model.to(dims.device)
    if compile_blocks:
        for block in model.layers:
            block.compile(dynamic=True)
    if dims.distributed:
        apply_fsdp(model, dims, bf16=bf16 and dims.device.type == "cuda")
    return model


def apply_fsdp(model: nn.Module, dims: ParallelDims, bf16: bool) -> None:
    """fully_shard per block and at the root; with ep > 1 the routed experts first become DTensors split over
    "ep" and get their own FSDP group over "dp_shard" (sharded on dim 1, dim 0 being the experts).

    Gradients: FSDP averages over the ranks it reduces over. Non-expert parameters see all ranks, so the mean of
    per-rank gradients is the global one. An expert's gradient arrives as the mean over its EP group (see
    trainer/expert_parallel.py); FSDP's mean over dp_shard then makes it the mean over all ranks too. (FSDP's
    own gradient divide factor would do the same on NCCL but needs PREMUL_SUM, which gloo lacks.)
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.tensor import Shard

    from trainer.expert_parallel import apply_expert_parallel

    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else \
        MixedPrecisionPolicy()
    dp_mesh = dims.submesh("dp")
    moe_layers = list(model.moe_layers())
    if dims.ep_enabled and moe_layers:
        apply_expert_parallel(moe_layers, dims.submesh("ep"))
        for moe in moe_layers:
            fully_shard(moe.experts, mesh=dims.submesh("dp_shard"), mp_policy=mp,
                        shard_placement_fn=lambda p: Shard(1))
    if bf16:  # the gate's own group keeps its weight (and input) in fp32 where moe.router_fp32 asks for it
        router_mp = MixedPrecisionPolicy(param_dtype=torch.float32, reduce_dtype=torch.float32)
        for moe in moe_layers:
            if moe.cfg.router_fp32:
                fully_shard(moe.router, mesh=dp_mesh, mp_policy=router_mp)
    for block in model.layers:
        fully_shard(block, mesh=dp_mesh, mp_policy=mp)
    fully_shard(model, mesh=dp_mesh, mp_policy=mp)


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t


@torch.no_grad()
def clip_grad_norm_(params: Iterable[nn.Parameter], max_norm: float, dims: ParallelDims) -> torch.Tensor:
    """Global gradient norm, and scales gradients so it is at most `max_norm` (0 or inf: no clipping).

    Sharded gradients live on two meshes (all ranks; dp_shard x ep for the experts), which torch's
    clip_grad_norm_ cannot combine. Every element of every sharded gradient lives on exactly one rank (FSDP
    shards, EP splits; nothing is replicated), so the global sum of squares is one all-reduce of local sums.
    """
    params = [p for p in params if p.grad is not None]
    max_norm = max_norm or math.inf
    if not dims.distributed:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    grads = [_local(p.grad) for p in params]
    if any(not hasattr(p.grad, "to_local") for p in params):
        raise RuntimeError("clip_grad_norm_: a gradient is not sharded (was the model parallelized?)")
    device = grads[0].device if grads else dims.device
    sq = torch.zeros((), dtype=torch.float32, device=device)
    for norm in torch._foreach_norm(grads) if grads else []:
        sq += norm.float() ** 2
    dist.all_reduce(sq)
    total = sq.sqrt()
    if math.isfinite(max_norm):
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        torch._foreach_mul_(grads, coef.to(grads[0].dtype) if grads else coef)
    return total


def agree_recompute_plan(plan: list[bool], dims: ParallelDims) -> list[bool]:
    """One plan for all ranks: a block recomputes if any rank wants it to.

    Ranks see different batch shapes, so an input-aware planner may choose differently on each; but a
    recomputed MoE block re-runs its all-to-alls and FSDP gathers in backward, which every rank must join."""
    if not dims.distributed:
        return list(plan)
    t = torch.tensor([int(p) for p in plan], dtype=torch.int32, device=dims.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]



class RankCollectives:
    """The recompute planner's collectives over all ranks (trainer/recompute/policy.py's RankGroup)."""

    def __init__(self, dims: ParallelDims):
        self.dims = dims

    def all(self, flag: bool) -> bool:
        """True when `flag` is true on every rank."""
        if not self.dims.distributed:
            return bool(flag)
        t = torch.tensor([int(bool(flag))], dtype=torch.int32, device=self.dims.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def gather(self, values: list[float]) -> list[list[float]]:
        """Every rank's `values` (the same length on all), in rank order."""
        if not self.dims.distributed:
            return [list(values)]
        t = torch.tensor(values, dtype=torch.float64, device=self.dims.device)
        out = [torch.empty_like(t) for _ in range(self.dims.world_size)]
        dist.all_gather(out, t)
        return [o.tolist() for o in out]
