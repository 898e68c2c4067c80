"""Mixture-of-experts layer in the dots.llm1 / DeepSeek-V3 style: fine-grained routed experts, top-k routing,
shared experts every token uses, and auxiliary-loss-free load balancing.

Shape legend (suffixes on tensor names):
    B batch, S sequence, T tokens (= B*S), D model dim, F expert hidden dim,
    E routed experts, K experts per token (top-k), N routed token slots (= T*K).

The layer is three parts with one job each:
    Router          scores tokens in fp32, picks K experts per token (bias used for selection only)
    SortedDispatch  sorts token slots by expert so each expert's tokens are contiguous, and undoes it
    GroupedExperts  runs all experts over the sorted slots: one grouped GEMM (or a per-expert loop)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from trainer.grouped_mm import grouped_mm, has_grouped_mm, pad_groups

DEFAULT_BIAS_SPEED = {"quantile": 0.5, "sign": 0.001}


@dataclass(kw_only=True, slots=True)
class MoEConfig:
    n_routed_experts: int = 8
    n_shared_experts: int = 1
    top_k: int = 2
    expert_ffn_dim: int = 64
    score_func: Literal["sigmoid", "softmax"] = "sigmoid"
    # dots.llm1 normalises the top-k weights to sum to one, then scales them (routed_scaling_factor)
    norm_topk_prob: bool = True
    route_scale: float = 1.0
    # aux-loss-free balancing, once per optimizer step. "quantile": each expert's bias moves `speed` of the way to
    # the value that would have given it exactly its share of the step's token slots (a step in score units, as
    # large as the score gaps it has to close); "sign": DeepSeek-V3's fixed step of `speed` toward uniform load
    bias_update: Literal["quantile", "sign"] = "quantile"
    # -1: the rule's own default (quantile 0.5 of the gap; sign 0.001, DeepSeek-V3's); 0 disables balancing
    bias_update_speed: float = -1.0
    # complementary sequence-level balance loss weight (DeepSeek-V3: 1e-4); 0 disables it
    seq_balance_coef: float = 0.0
    # the gate in fp32 under bf16 autocast and FSDP's bf16 parameters (near-ties between experts decide routing);
    # false: the gate runs in the compute dtype like every other linear
    router_fp32: bool = True
    # "grouped": one grouped GEMM over expert-sorted tokens; "loop": one matmul per expert (the reference)
    experts_impl: Literal["grouped", "loop"] = "grouped"
    # pad every expert's token group to a multiple of this many rows on CUDA (grouped-GEMM kernel tiles)
    cuda_group_align: int = 16

    def __post_init__(self) -> None:
        if self.n_routed_experts < 1 or self.top_k < 1:
            raise ValueError("moe.n_routed_experts and moe.top_k must be >= 1")
        if self.top_k > self.n_routed_experts:
            raise ValueError(f"moe.top_k={self.top_k} exceeds moe.n_routed_experts={self.n_routed_experts}")
        if self.bias_update not in ("quantile", "sign") or (self.bias_update_speed < 0
                                                            and self.bias_update_speed != -1):
            raise ValueError(f"moe.bias_update must be 'quantile' or 'sign' and bias_update_speed >= 0 (or -1: the "
                             f"rule's default), got {self.bias_update!r}, {self.bias_update_speed}")
        if self.bias_update_speed == -1:
            self.bias_update_speed = DEFAULT_BIAS_SPEED[self.bias_update]
        if self.score_func not in ("sigmoid", "softmax"):
            raise ValueError(f"moe.score_func must be 'sigmoid' or 'softmax', got {self.score_func!r}")
        if self.experts_impl not in ("grouped", "loop"):
            raise ValueError(f"moe.experts_impl must be 'grouped' or 'loop', got {self.experts_impl!r}")
        if self.n_shared_experts < 0 or self.expert_ffn_dim < 1 or self.cuda_group_align < 1:
            raise ValueError("moe.n_shared_experts must be >= 0, expert_ffn_dim and cuda_group_align >= 1")


def in_recompute() -> bool:
    """True while autograd runs a backward pass, which is where activation checkpointing re-runs forward.

    Statistics gathered in forward must be counted once per step, not again when a checkpointed block is
    recomputed during backward (trainer/recompute/ switches blocks to recompute between steps).
    """
    return torch._C._current_graph_task_id() != -1


class Router(nn.Module):
    """Top-k router with a per-expert selection bias (aux-loss-free balancing).

    The bias only decides *which* experts a token goes to; the combine weights come from the unbiased scores,
    so balancing never distorts the layer's output scale. The bias is a buffer, not a parameter: it moves by
    a fixed step toward uniform load in `update_bias`, called by the loop after the optimizer step.
    """

    def __init__(self, dim: int, cfg: MoEConfig):
        super().__init__()
        self.cfg = cfg
        self.gate = nn.Linear(dim, cfg.n_routed_experts, bias=False)
        self.register_buffer("expert_bias", torch.zeros(cfg.n_routed_experts, dtype=torch.float32))
        # tokens routed to each expert since the last bias update; not saved (it is reset every step)
        self.register_buffer("tokens_per_expert", torch.zeros(cfg.n_routed_experts, dtype=torch.float32),
                             persistent=False)
        # [sum of each expert's bias correction (see balance_step), forwards summed]; reset every update
        self.register_buffer("bias_step_sum", torch.zeros(cfg.n_routed_experts + 1, dtype=torch.float32),
                             persistent=False)
        self.overloaded_steps = 0  # consecutive bias updates with the busiest expert above 2x uniform
        self._debug_force_load_balance = False

    def forward(self, x_TD: torch.Tensor, mask_T: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (topk_weights_TK fp32, topk_ids_TK int64, scores_TE fp32). Tokens where `mask_T` is False
        (padding) are routed like any other but left out of the load statistics."""
        E, K = self.cfg.n_routed_experts, self.cfg.top_k
        if self.cfg.router_fp32:  # near-ties between experts decide routing: the gate runs in fp32 under autocast
            with torch.autocast(device_type=x_TD.device.type, enabled=False):
                logits_TE = F.linear(x_TD.float(), self.gate.weight.float())
        else:
            logits_TE = self.gate(x_TD).float()
        scores_TE = self.scores(logits_TE)

        if self._debug_force_load_balance:
            # deterministic round-robin assignment: every expert gets the same number of slots
            T = x_TD.shape[0]
            topk_ids_TK = (torch.arange(T * K, device=x_TD.device) % E).view(T, K)
        else:
            _, topk_ids_TK = torch.topk(scores_TE + self.expert_bias, K, dim=-1)
        topk_weights_TK = scores_TE.gather(-1, topk_ids_TK)
        if self.cfg.norm_topk_prob and K > 1:
            topk_weights_TK = topk_weights_TK / (topk_weights_TK.sum(dim=-1, keepdim=True) + 1e-20)
        topk_weights_TK = topk_weights_TK * self.cfg.route_scale

        if self.training and not in_recompute():
            with torch.no_grad():
                ids_TK, biased_TE = topk_ids_TK, scores_TE + self.expert_bias
                if mask_T is not None:  # boolean indexing waits for the device once; the loop passes no mask
                    ids_TK, biased_TE = ids_TK[mask_T], biased_TE[mask_T]  # for a batch without padding
                self.tokens_per_expert += torch.bincount(ids_TK.flatten(), minlength=E).float()
                if self.cfg.bias_update == "quantile" and self.cfg.bias_update_speed > 0 and len(ids_TK):
                    self.bias_step_sum[:E] += balance_step(biased_TE, ids_TK)
                    self.bias_step_sum[E] += 1
        return topk_weights_TK, topk_ids_TK, scores_TE

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.cfg.score_func == "sigmoid" else logits.softmax(dim=-1)

    @torch.no_grad()
    def update_bias(self, load_E: torch.Tensor, bias_step_sum: torch.Tensor | None = None) -> None:
        """Moves the selection bias toward uniform load: overloaded experts down, underloaded up.

        Runs after the optimizer step, outside forward, so forward stays a pure function of parameters and
        buffers (recomputation and gradient checks rely on it). `load_E` (tokens per expert) and `bias_step_sum`
        (default: this router's own) are summed over all ranks by the caller, so every rank applies the same
        update.

        Why not only DeepSeek-V3's fixed sign step: while the model is young its tokens look alike to the gate, so
        all of them prefer the same experts by score gaps of 0.1 or more, and Adam moves those gaps by more per
        step than a 0.001 step follows: the router collapses onto K experts (max/mean load = E/K). The quantile
        step is in score units and as large as the gap to close; near balance it is small.
        """
        speed, E = self.cfg.bias_update_speed, load_E.numel()
        steps = self.bias_step_sum if bias_step_sum is None else bias_step_sum
        if speed > 0 and load_E.sum() > 0:
            if self.cfg.bias_update == "sign":
                delta_E = speed * torch.sign(load_E.mean() - load_E)
            else:
                delta_E = speed * steps[:E] / steps[E].clamp_min(1)
            self.expert_bias += delta_E - delta_E.mean()
        self.tokens_per_expert.zero_()
        self.bias_step_sum.zero_()
        if load_E.sum() > 0 and E > 1:
            self.overloaded_steps = self.overloaded_steps + 1 if load_E.max() > 2 * load_E.mean() else 0


def balance_step(biased_TE: torch.Tensor, topk_ids_TK: torch.Tensor) -> torch.Tensor:
    """Per expert, the bias change that would have given it exactly its share T*K/E of these tokens' slots.

    A token takes expert e when e's biased score beats the K-th best of the other experts; the margin by which it
    does (or misses) is m_te. Sorting an expert's margins, the bias that admits exactly its share of tokens puts
    the zero between the share-th and the next largest margin: the step is minus their midpoint. Each expert is
    solved with the others fixed, so applying the full step overshoots; the caller takes a fraction of it.
    """
    T, E = biased_TE.shape
    K = topk_ids_TK.shape[1]
    top_TK1 = biased_TE.topk(min(K + 1, E), dim=-1).values
    chosen_TE = torch.zeros_like(biased_TE, dtype=torch.bool).scatter_(1, topk_ids_TK, True)
    if K == E:
        return biased_TE.new_zeros(E)
    threshold_TE = torch.where(chosen_TE, top_TK1[:, K:K + 1], top_TK1[:, K - 1:K])
    share = min(max(1, round(T * K / E)), T - 1) if T > 1 else 1
    ranked_RE = (biased_TE - threshold_TE).topk(min(share + 1, T), dim=0).values
    return -ranked_RE[share - 1:share + 1].mean(dim=0)


def sequence_balance_loss(scores_BSE: torch.Tensor, topk_ids_BSK: torch.Tensor,
                          mask_BS: torch.Tensor | None = None) -> torch.Tensor:
    """DeepSeek-V3's complementary sequence-wise balance loss: sum_e f_e * P_e averaged over sequences.

    f_e: fraction of the sequence's slots routed to e (scaled so uniform load gives 1); P_e: the mean
    normalised score of e over the sequence. With `mask_BS`, a sequence is its real tokens only, and sequences
    without any are left out of the mean.
    """
    B, S, E = scores_BSE.shape
    K = topk_ids_BSK.shape[-1]
    p_BSE = scores_BSE / scores_BSE.sum(dim=-1, keepdim=True)
    counts_BE = torch.zeros(B, E, device=scores_BSE.device, dtype=scores_BSE.dtype)
    if mask_BS is None:
        counts_BE.scatter_add_(1, topk_ids_BSK.reshape(B, S * K), torch.ones_like(counts_BE[:, :1]).expand(B, S * K))
        return (counts_BE * (E / (K * S)) * p_BSE.mean(dim=1)).sum(dim=-1).mean()
    w_BS = mask_BS.to(scores_BSE.dtype)
    n_B = w_BS.sum(dim=1)
    counts_BE.scatter_add_(1, topk_ids_BSK.reshape(B, S * K), w_BS.repeat_interleave(K, dim=1))
    f_BE = counts_BE * E / (K * n_B.clamp_min(1)).unsqueeze(1)
    p_BE = (p_BSE * w_BS.unsqueeze(-1)).sum(dim=1) / n_B.clamp_min(1).unsqueeze(1)
    has_B = (n_B > 0).to(scores_BSE.dtype)
    return ((f_BE * p_BE).sum(dim=-1) * has_B).sum() / has_B.sum().clamp_min(1)


class _AddAuxLoss(torch.autograd.Function):
    """Identity on `x` whose backward also sends gradient 1 into `aux`.

    This adds an auxiliary loss to the total loss without returning it from the block, so blocks keep the
    signature `x -> x` that activation checkpointing wraps.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        ctx.aux_shape, ctx.aux_dtype = aux.shape, aux.dtype
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, torch.ones(ctx.aux_shape, dtype=ctx.aux_dtype, device=grad.device)


class SortedDispatch:
    """Sorts the N = T*K token slots by expert id (stable, so the order is deterministic) and back."""

    @staticmethod
    def dispatch(x_TD: torch.Tensor, topk_ids_TK: torch.Tensor, n_experts: int):
        K = topk_ids_TK.shape[1]
        ids_N = topk_ids_TK.flatten()
        order_N = torch.argsort(ids_N, stable=True)
        x_ND = x_TD[order_N // K]
        counts_E = torch.bincount(ids_N, minlength=n_experts)
        return x_ND, counts_E, order_N

    @staticmethod
    def combine(out_ND: torch.Tensor, topk_weights_TK: torch.Tensor, order_N: torch.Tensor) -> torch.Tensor:
        T, K = topk_weights_TK.shape
        # scatter back by permutation, then a fixed-order sum over K: deterministic, no atomics
        unsorted_ND = torch.empty_like(out_ND).index_copy(0, order_N, out_ND)
        out_TKD = unsorted_ND.view(T, K, -1)
        return (out_TKD * topk_weights_TK.unsqueeze(-1).to(out_TKD.dtype)).sum(dim=1)


class GroupedExperts(nn.Module):
    """E SwiGLU experts stored as three stacked weights, run over expert-sorted token slots."""

    def __init__(self, dim: int, cfg: MoEConfig):
        super().__init__()
        E, F_ = cfg.n_routed_experts, cfg.expert_ffn_dim
        self.impl = cfg.experts_impl
        self.cuda_group_align = cfg.cuda_group_align
        self.w1 = nn.Parameter(torch.empty(E, F_, dim))  # w1_EFD: gate projection
        self.w2 = nn.Parameter(torch.empty(E, dim, F_))  # w2_EDF: down projection
        self.w3 = nn.Parameter(torch.empty(E, F_, dim))  # w3_EFD: up projection

    def local_weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The experts this rank runs: all E, or under expert parallelism (trainer/expert_parallel.py, which
        also moves the token slots between ranks around forward) the local shard of the DTensor weights."""
        return tuple(w.to_local() if hasattr(w, "to_local") else w for w in (self.w1, self.w2, self.w3))

    def forward(self, x_ND: torch.Tensor, counts_E: torch.Tensor) -> torch.Tensor:
        """Runs in the autocast dtype when autocast is on (train.bf16 on CUDA), else in the input's dtype."""
        device = x_ND.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x_ND.dtype
        # the CUDA grouped GEMM kernel is bf16-only: an fp32 run on CUDA takes the loop rather than rounding
        if self.impl == "loop" or not has_grouped_mm() or (x_ND.is_cuda and dtype != torch.bfloat16):
            return self._forward_loop(x_ND, counts_E)
        return self._forward_grouped(x_ND, counts_E, dtype, self.cuda_group_align if x_ND.is_cuda else 1)

    def _forward_loop(self, x_ND: torch.Tensor, counts_E: torch.Tensor) -> torch.Tensor:
        """Reference: one SwiGLU per expert over its contiguous slice. Simple, slow (E small matmuls)."""
        w1, w2, w3 = self.local_weights()
        outs = []
        for e, x_nD in enumerate(torch.split(x_ND, counts_E.tolist())):
            h_nF = F.silu(x_nD @ w1[e].to(x_nD.dtype).T) * (x_nD @ w3[e].to(x_nD.dtype).T)
            outs.append(h_nF @ w2[e].to(x_nD.dtype).T)
        return torch.cat(outs)

    def _forward_grouped(self, x_ND: torch.Tensor, counts_E: torch.Tensor, dtype: torch.dtype,
                         align: int) -> torch.Tensor:
        """All experts in three grouped GEMMs over the expert-sorted rows (offsets = cumulative counts)."""
        w1, w2, w3 = (w.to(dtype) for w in self.local_weights())
        if align > 1:
            x_ND, counts_E, keep_N = pad_groups(x_ND, counts_E, align)
        offs_E = torch.cumsum(counts_E, dim=0, dtype=torch.int32)
        x = x_ND.to(dtype)
        h_NF = F.silu(grouped_mm(x, w1, offs_E)) * grouped_mm(x, w3, offs_E)
        out_ND = grouped_mm(h_NF, w2, offs_E)
        if align > 1:
            out_ND = out_ND[keep_N]
        return out_ND.to(x_ND.dtype)


class MoE(nn.Module):
    """Routed experts plus shared experts. `shared` is built by the caller (the model's FeedForward)."""

    def __init__(self, dim: int, cfg: MoEConfig, shared: nn.Module | None, layer_id: int = -1):
        super().__init__()
        self.cfg, self.layer_id = cfg, layer_id  # layer_id: the block index, for messages
        self.router = Router(dim, cfg)
        self.experts = GroupedExperts(dim, cfg)
        self.shared_experts = shared
        # this step's balance loss so far (each forward's scaled by aux_loss_scale, so a mean over micro-batches);
        # read and reset by update_expert_biases
        self.register_buffer("aux_loss_sum", torch.zeros(()), persistent=False)
        # weight of this forward's balance loss: 1 / micro-batches per step, as the main loss is a mean over them
        # (set by the loop; ranks need nothing, FSDP already averages their gradients)
        self.aux_loss_scale = 1.0

    def forward(self, x_BSD: torch.Tensor, mask_BS: torch.Tensor | None = None) -> torch.Tensor:
        """`mask_BS`: True at real tokens; padding is left out of the routing statistics and the balance loss."""
        B, S, D = x_BSD.shape
        x_TD = x_BSD.reshape(B * S, D)
        topk_weights_TK, topk_ids_TK, scores_TE = self.router(x_TD, None if mask_BS is None else mask_BS.reshape(-1))
        x_in_TD = x_TD
        if torch.is_autocast_enabled(x_TD.device.type):  # dispatch K copies of each token in bf16, not fp32
            x_in_TD = x_TD.to(torch.get_autocast_dtype(x_TD.device.type))
        x_ND, counts_E, order_N = SortedDispatch.dispatch(x_in_TD, topk_ids_TK, self.cfg.n_routed_experts)
        out_ND = self.experts(x_ND, counts_E)
        out_TD = SortedDispatch.combine(out_ND, topk_weights_TK, order_N).to(x_BSD.dtype)
        if self.shared_experts is not None:
            out_TD = out_TD + self.shared_experts(x_TD)
        out_BSD = out_TD.view(B, S, D)
        if self.cfg.seq_balance_coef > 0 and self.training and torch.is_grad_enabled():
            K = self.cfg.top_k
            aux = self.aux_loss_scale * self.cfg.seq_balance_coef * sequence_balance_loss(
                scores_TE.view(B, S, -1), topk_ids_TK.view(B, S, K), mask_BS)
            if not in_recompute():
                self.aux_loss_sum += aux.detach()
            out_BSD = _AddAuxLoss.apply(out_BSD, aux)
        return out_BSD


OVERLOAD_WARN_STEPS = 50  # a layer whose busiest expert stays above 2x uniform this long gets a warning


@torch.no_grad()
def update_expert_biases(moe_layers: Iterable[MoE], all_reduce: bool = False, group=None) -> dict:
    """Applies one bias update to every MoE layer from the load observed since the last call.

    Returns load statistics for the metrics: `load_imbalance` is max/mean tokens per expert (1.0 is perfect),
    averaged over layers, `load_imbalance_max` the worst layer and `layer_load_imbalance` each layer's. Warns
    once when a layer's busiest expert has stayed above twice the uniform load for OVERLOAD_WARN_STEPS updates.
    """
    layers = list(moe_layers)
    if not layers:
        return {}
    # one all-reduce for every layer's counts, score spreads and balance loss: all ranks apply the same update
    stats_LX = torch.stack([torch.cat([m.router.tokens_per_expert, m.router.bias_step_sum, m.aux_loss_sum[None]])
                            for m in layers])
    ranks = 1
    if all_reduce:
        import torch.distributed as dist

        dist.all_reduce(stats_LX, group=group)
        ranks = dist.get_world_size(group)
    aux_L, stats_LX = stats_LX[:, -1] / ranks, stats_LX[:, :-1]
    E = layers[0].cfg.n_routed_experts
    load_LE = stats_LX[:, :E]
    for moe, load_E, stats_X in zip(layers, load_LE, stats_LX, strict=True):
        moe.router.update_bias(load_E, stats_X[E:])
        if moe.router.overloaded_steps == OVERLOAD_WARN_STEPS:
            share = float(load_E.max() / load_E.sum())
            warnings.warn(f"MoE layer {moe.layer_id}: its busiest expert has taken more than twice the uniform "
                          f"load for {OVERLOAD_WARN_STEPS} steps (now {share:.1%} of the slots, uniform "
                          f"{1 / load_E.numel():.1%}); routing is collapsing: raise moe.bias_update_speed",
                          stacklevel=2)
    mean_L = load_LE.mean(dim=1).clamp_min(1e-9)
    imbalance_L = load_LE.max(dim=1).values / mean_L
    for m in layers:
        m.aux_loss_sum.zero_()
    aux = float(aux_L.sum())  # summed over layers, the mean over micro-batches and ranks
    return {"load_imbalance": float(imbalance_L.mean()), "load_imbalance_max": float(imbalance_L.max()),
            "layer_load_imbalance": [round(float(x), 4) for x in imbalance_L], "seq_balance_loss": aux}
