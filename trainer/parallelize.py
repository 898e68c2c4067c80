"""Everything that depends on how many devices there are, applied to a built model from outside.

The model never branches on the parallel backend. Order: move to device -> compile blocks -> DDP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True, slots=True)
class ParallelDims:
    """This process's place in a torchrun job (rank 0 of 1 when not under torchrun)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("train.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def init_distributed(device_name: str) -> ParallelDims:
    """Reads torchrun's environment; starts the process group (NCCL on GPU, gloo on CPU) when WORLD_SIZE > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    return ParallelDims(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def parallelize(model: nn.Module, dims: ParallelDims, compile_blocks: bool = False) -> nn.Module:
    """Returns the module to call in training; `model` itself stays the one to save and inspect.

    Blocks are compiled one by one (as torchtitan does) so the Python loop over blocks, which reads the
    activation-recompute plan, is never traced: changing the plan cannot trigger a recompilation.
    """
    model.to(dims.device)
    if compile_blocks:
        for block in model.layers:
            block.compile(dynamic=True)
    if dims.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # buffers (the routing bias) are updated identically on every rank from all-reduced loads
        return DDP(model, device_ids=[dims.local_rank] if dims.device.type == "cuda" else None,
                   forward_sync_buffers=False)
    return model


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
