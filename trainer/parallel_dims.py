"""The parallel layout of a run: how many ranks shard parameters (dp_shard) and split the experts (ep), checked
once against the world size, and the one DeviceMesh every parallel piece takes its process groups from.

Layout of W = dp_shard x ep ranks (mesh dims ("dp_shard", "ep"), ep innermost so an expert-parallel group is a
block of neighbouring ranks, i.e. one node's fast links on GPUs):

    every rank reads its own data        data-parallel degree W
    attention, dense, shared experts     FSDP over all W ranks (the flattened "dp" mesh)
    routed experts                       rank (d, e) holds experts [e*E/ep, (e+1)*E/ep), FSDP-sharded over "dp_shard"

One rank (no torchrun) is the single-device model with no mesh at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from pipeline.config import ConfigError


@dataclass(kw_only=True, slots=True)
class ParallelConfig:
    """The `[parallel]` table."""

    dp_shard: int = 0  # ranks that shard parameters, gradients and optimizer state; 0: world_size // ep
    ep: int = 1  # expert-parallel degree: ranks that split the routed experts between them
    # data streams of the run (each rank reads world_size-th of them, one micro-batch each per step); 0: the world
    # size at the run's start. A resumed run keeps the saved count, so the data order survives a layout change
    data_streams: int = 0
    # build the model on the meta device and draw every rank's shards in place, so no rank ever holds the whole
    # model (needed when it does not fit one device: dots_llm1). Off: each rank builds the whole model from the
    # seed and keeps its shards, which gives the single-device run's exact initial values
    meta_init: bool = False

    def __post_init__(self) -> None:
        if self.dp_shard < 0 or self.ep < 1 or self.data_streams < 0:
            raise ValueError("parallel.dp_shard and parallel.data_streams must be >= 0, parallel.ep >= 1")


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device is 'cuda' but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device(name)


@dataclass(slots=True)
class ParallelDims:
    """This process's place in the job, validated: dp_shard x ep == world_size, ep divides the expert count
    (a layout that does not fit the job is a ConfigError, reported in one line by `sluice train`)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    dp_shard: int = 1
    ep: int = 1
    mesh: object | None = field(default=None, repr=False)  # DeviceMesh ("dp_shard", "ep"); None on one rank
    dp_mesh: object | None = field(default=None, repr=False)  # the same ranks flattened to one dim, "dp"

    @classmethod
    def resolve(cls, cfg: ParallelConfig, n_routed_experts: int, rank: int, world_size: int, local_rank: int,
                device: torch.device) -> ParallelDims:
        ep = cfg.ep
        if world_size % ep:
            raise ConfigError(f"parallel.ep={ep} does not divide the world size {world_size}")
        dp_shard = cfg.dp_shard or world_size // ep
        if dp_shard * ep != world_size:
            raise ConfigError(f"parallel.dp_shard={dp_shard} x parallel.ep={ep} = {dp_shard * ep} ranks, but the job "
                             f"has {world_size} (torchrun --nproc-per-node x nodes)")
        if n_routed_experts % ep:
            raise ConfigError(f"parallel.ep={ep} does not divide model.moe.n_routed_experts={n_routed_experts}")
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=device, dp_shard=dp_shard, ep=ep)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def ep_enabled(self) -> bool:
        return self.ep > 1

    @property
    def ep_rank(self) -> int:
        return self.rank % self.ep  # ep is the innermost mesh dim

    def build_mesh(self):
        """The one DeviceMesh of the job (needs the process group); sub-meshes come from it by name."""
        if not self.distributed:
            return None
        if self.mesh is None:
            from torch.distributed.device_mesh import init_device_mesh

            self.mesh = init_device_mesh(self.device.type, (self.dp_shard, self.ep), mesh_dim_names=("dp_shard", "ep"))
            # all ranks as one dim, for FSDP of the non-expert parameters; kept here (slicing a flattened dim out
            # of the root mesh is deprecated)
            self.dp_mesh = self.mesh["dp_shard", "ep"]._flatten("dp")
        return self.mesh

    def submesh(self, name: str):
        """"dp" (all ranks), "dp_shard" or "ep"."""
        mesh = self.build_mesh()
        return self.dp_mesh if name == "dp" else mesh[name]

    def group(self, name: str):
        return self.submesh(name).get_group()


def init_distributed(device_name: str, cfg: ParallelConfig | None = None, n_routed_experts: int = 1) -> ParallelDims:
    """Reads torchrun's environment; starts the process group (NCCL on GPU, gloo on CPU) when WORLD_SIZE > 1."""
    import torch.distributed as dist

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    dims = ParallelDims.resolve(cfg or ParallelConfig(), n_routed_experts, rank, world_size, local_rank, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    dims.build_mesh()
    return dims


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
