"""Expert parallelism: the routed experts of an MoE layer split across the ranks of an expert-parallel group.

Rank e of an ep-sized group holds experts [e*L, (e+1)*L) with L = E/ep (the weights stay one DTensor of global
shape (E, ., .) sharded on dim 0, so a saved state reloads on any layout). The layer's forward is unchanged up to
`GroupedExperts`: its input is this rank's token slots sorted by global expert id, so the slots bound for one
rank are contiguous. Around the experts' forward:

    dispatch   exchange per-expert counts (an even all-to-all of E integers), then send every rank its slots
               (all_to_all_single with uneven splits); the received rows are grouped by source rank, then expert,
               and are permuted to expert-major order so the local experts run as one grouped GEMM
    combine    undo the permutation and send every output row back to the rank and position it came from

The backward of each all-to-all is the all-to-all with the splits swapped, so gradients reach the experts'
owners and come back the same way. An owner's weight gradient thus sums the slots of its whole EP group; the
hooks scale it by 1/ep (and leave the input gradient alone) so that it is the group's mean, as a data-parallel
gradient is: FSDP then averages it over "dp_shard" like every other gradient.

Every rank of a group must run every MoE layer the same number of times (also when recomputing), which the
loop guarantees by agreeing on one recompute plan.
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.distributed as dist
from torch import nn


class CommTimer:
    """Wall time inside the expert all-to-alls (counts, dispatch, combine and their backward), for the
    benchmark's share of step time. Off by default; when on it synchronises CUDA around each call, so it is
    for measuring only."""

    enabled = False
    seconds = 0.0
    calls = 0

    @classmethod
    @contextlib.contextmanager
    def measure(cls, device: torch.device):
        if not cls.enabled:
            yield
            return
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        cls.seconds += time.perf_counter() - t0
        cls.calls += 1


class _AllToAll(torch.autograd.Function):
    """all_to_all_single over dim 0 with uneven splits; backward sends gradients back along the same routes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, out_splits: list[int], in_splits: list[int], group) -> torch.Tensor:
        ctx.out_splits, ctx.in_splits, ctx.group = out_splits, in_splits, group
        out = x.new_empty((sum(out_splits), *x.shape[1:]))
        with CommTimer.measure(x.device):
            dist.all_to_all_single(out, x.contiguous(), out_splits, in_splits, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        out = grad.new_empty((sum(ctx.in_splits), *grad.shape[1:]))
        with CommTimer.measure(grad.device):
            dist.all_to_all_single(out, grad.contiguous(), ctx.in_splits, ctx.out_splits, group=ctx.group)
        return out, None, None, None


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; multiplies the gradient by `scale`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def all_to_all(x: torch.Tensor, out_splits: list[int], in_splits: list[int], group) -> torch.Tensor:
    return _AllToAll.apply(x, out_splits, in_splits, group)


def exchange_counts(counts_E: torch.Tensor, ep: int, group) -> torch.Tensor:
    """counts_E: slots this rank sends to each global expert. Returns recv_SL: slots each source rank s sends to
    each local expert l (ep x L). Counts go first so every rank can size its receive buffer."""
    recv = torch.empty_like(counts_E)
    with CommTimer.measure(counts_E.device):
        dist.all_to_all_single(recv, counts_E.contiguous(), group=group)
    return recv.view(ep, -1)


def expert_major_order(recv_SL: torch.Tensor) -> torch.Tensor:
    """Row index into the received buffer (source-major: s, then l) for each row of the expert-major layout
    (l, then s): `x_recv[idx]` groups every local expert's rows together, sources in rank order."""
    S, L = recv_SL.shape
    n_SL = recv_SL.flatten()
    src_start_SL = (torch.cumsum(n_SL, 0) - n_SL).view(S, L)
    n_LS = recv_SL.t().flatten()
    dst_start_LS = torch.cumsum(n_LS, 0) - n_LS
    total = int(n_SL.sum())
    shift = torch.repeat_interleave(src_start_SL.t().flatten() - dst_start_LS, n_LS, output_size=total)
    return torch.arange(total, device=recv_SL.device) + shift


class ExpertParallel:
    """Installs dispatch/combine around one `GroupedExperts` module as forward hooks, so the model code stays the
    single-device code. Keeps the routes of the forward in flight between the two hooks."""

    def __init__(self, group, ep: int):
        self.group, self.ep = group, ep
        self._routes: list[tuple[list[int], list[int], torch.Tensor]] = []

    def install(self, experts: nn.Module) -> None:
        experts.register_forward_pre_hook(self.dispatch)
        experts.register_forward_hook(self.combine)

    def dispatch(self, module: nn.Module, args: tuple) -> tuple:
        x_ND, counts_E = args
        recv_SL = exchange_counts(counts_E, self.ep, self.group)
        send = counts_E.view(self.ep, -1).sum(dim=1).tolist()  # slots for each rank (contiguous: sorted by expert)
        recv = recv_SL.sum(dim=1).tolist()
        x_recv = all_to_all(x_ND, recv, send, self.group)
        idx = expert_major_order(recv_SL)
        self._routes.append((send, recv, idx))
        # gradients into the experts' outputs are scaled by 1/ep in combine; undo it for the input gradient
        return _ScaleGrad.apply(x_recv[idx], float(self.ep)), recv_SL.sum(dim=0)

    def combine(self, module: nn.Module, args: tuple, out_local: torch.Tensor) -> torch.Tensor:
        send, recv, idx = self._routes.pop()
        out_local = _ScaleGrad.apply(out_local, 1.0 / self.ep)  # weight gradient: the mean over the EP group
        out_recv = torch.empty_like(out_local).index_copy(0, idx, out_local)
        return all_to_all(out_recv, send, recv, self.group)


def shard_experts(experts: nn.Module, ep_mesh) -> None:
    """Replaces the experts' stacked weights by DTensors sharded on the expert dim over `ep_mesh`: each rank keeps
    its E/ep experts and the global shape stays (E, ., .)."""
    from torch.distributed.tensor import Shard, distribute_tensor

    for name, p in list(experts.named_parameters(recurse=False)):
        experts.register_parameter(name, nn.Parameter(distribute_tensor(p.data, ep_mesh, [Shard(0)])))


def apply_expert_parallel(moe_layers, ep_mesh) -> None:
    ep, group = ep_mesh.size(), ep_mesh.get_group()
    for moe in moe_layers:
        shard_experts(moe.experts, ep_mesh)
        ExpertParallel(group, ep).install(moe.experts)
