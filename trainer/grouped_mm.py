"""The grouped GEMM the routed experts run on (trainer/moe.py's GroupedExperts): x_ND @ w_E.T for each expert's
contiguous rows in one kernel, the eager fallback the compiled graph calls for fp32, and the CUDA row padding.

Shape legend as in trainer/moe.py: N routed token slots, D/X/Y feature dims, E experts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient contiguous (grouped_mm's backward needs it)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def grouped_mm(x_ND: torch.Tensor, w_EXY: torch.Tensor, offs_E: torch.Tensor) -> torch.Tensor:
    """x_ND @ w_E.T per group, for weights stored (E, out, in) like nn.Linear."""
    if x_ND.dtype != torch.bfloat16 and torch.compiler.is_compiling():
        return grouped_mm_eager(x_ND, w_EXY, offs_E)
    gmm = getattr(F, "grouped_mm", None) or torch._grouped_mm
    return _ContiguousGrad.apply(gmm(x_ND, w_EXY.transpose(-2, -1), offs=offs_E))


@torch.compiler.disable
def grouped_mm_eager(x_ND: torch.Tensor, w_EXY: torch.Tensor, offs_E: torch.Tensor) -> torch.Tensor:
    """The grouped GEMM outside the compiled graph: its shape checks under tracing accept bf16 only, while eager
    runs fp32 on the CPU (the fp32 path is for CPU runs and tests, where the graph break costs little)."""
    gmm = getattr(F, "grouped_mm", None) or torch._grouped_mm
    return _ContiguousGrad.apply(gmm(x_ND, w_EXY.transpose(-2, -1), offs=offs_E))


def has_grouped_mm() -> bool:
    return hasattr(torch, "_grouped_mm")


def pad_groups(x_ND: torch.Tensor, counts_E: torch.Tensor, align: int):
    """Pads each expert's group to a multiple of `align` rows; returns padded x, padded counts, and the row
    index of every original slot in the padded layout (to drop the padding afterwards)."""
    padded_E = (counts_E + align - 1) // align * align
    start_E = torch.cumsum(padded_E, 0) - padded_E
    orig_start_E = torch.cumsum(counts_E, 0) - counts_E
    expert_N = torch.repeat_interleave(torch.arange(len(counts_E), device=x_ND.device), counts_E,
                                       output_size=x_ND.shape[0])
    rank_N = torch.arange(x_ND.shape[0], device=x_ND.device) - orig_start_E[expert_N]
    keep_N = start_E[expert_N] + rank_N
    total = int(padded_E.sum())
    x_pad = x_ND.new_zeros(total, x_ND.shape[1]).index_copy(0, keep_N, x_ND)
    return x_pad, padded_E, keep_N
