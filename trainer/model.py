"""A dots.llm1-style decoder, single-device math only, readable top to bottom.

RMSNorm -> RoPE -> attention with QK-norm over SDPA -> SwiGLU feed-forward -> block (dense for the first
`n_dense_layers`, MoE after) -> the model. Parallelism, compilation and activation checkpointing are applied
from outside; the only hook for the latter is `Transformer.set_recompute_plan`, a per-block list of booleans
that may change between steps at no cost (no module rewrapping, no recompilation).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from trainer.moe import MoE, MoEConfig

IGNORE_INDEX = -100  # label of padding positions
LOSS_CHUNK_TOKENS = 4096  # tokens whose logits exist at once when computing the loss


@dataclass(kw_only=True, slots=True)
class ModelConfig:
    vocab_size: int = 0  # 0: the shards' tokenizer's (manifest.json), filled in before the model is built
    eos_id: int = -1  # -1: the shards' tokenizer's; recorded for the exported config, the model never reads it
    dim: int = 64
    n_layers: int = 3
    n_heads: int = 4
    n_kv_heads: int = 0  # 0: same as n_heads (dots.llm1 uses full multi-head attention)
    head_dim: int = 0  # 0: dim // n_heads
    ffn_dim: int = 128  # hidden size of the dense layers' SwiGLU
    n_dense_layers: int = 1  # the first layers are dense, the rest MoE
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 128
    init_std: float = 0.006
    moe: MoEConfig = field(default_factory=MoEConfig)

    def __post_init__(self) -> None:
        for name in ("dim", "n_layers", "n_heads", "ffn_dim", "max_seq_len"):  # first: the checks below divide
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_kv_heads < 0 or self.head_dim < 0:
            raise ValueError(f"model.n_kv_heads and model.head_dim must be >= 0 (0: derived), got "
                             f"{self.n_kv_heads}, {self.head_dim}")
        if self.n_kv_heads == 0:
            self.n_kv_heads = self.n_heads
        if self.head_dim == 0:
            if self.dim % self.n_heads:
                raise ValueError(f"model.dim={self.dim} is not divisible by model.n_heads={self.n_heads}")
            self.head_dim = self.dim // self.n_heads
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"model.n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")
        if self.head_dim % 2:
            raise ValueError(f"model.head_dim={self.head_dim} must be even for RoPE")
        if not 0 <= self.n_dense_layers <= self.n_layers:
            raise ValueError(f"model.n_dense_layers={self.n_dense_layers} must be in [0, n_layers={self.n_layers}]")
        if self.vocab_size < 0:
            raise ValueError(f"model.vocab_size must be >= 0 (0: from the shards), got {self.vocab_size}")

    def build(self, device: torch.device | str | None = None) -> Transformer:
        if self.vocab_size < 1:
            raise ValueError("model.vocab_size is not set: it comes from the shards (--data) or --set "
                             "model.vocab_size=N")
        with torch.device(device or "cpu"):
            model = Transformer(self)
        if torch.device(device or "cpu").type != "meta":
            model.init_weights()
        return model


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # statistics in fp32 whatever the activation dtype
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)


def rope_tables(head_dim: int, max_seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos_SK, sin_SK for rotate-half RoPE (K = head_dim)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles_SK2 = torch.outer(torch.arange(max_seq_len, dtype=torch.float32), inv_freq)
    angles_SK = torch.cat([angles_SK2, angles_SK2], dim=-1)
    return angles_SK.cos(), angles_SK.sin()


def apply_rope(x_BHSK: torch.Tensor, cos_SK: torch.Tensor, sin_SK: torch.Tensor) -> torch.Tensor:
    x1, x2 = x_BHSK.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x_BHSK * cos_SK + rotated * sin_SK).to(x_BHSK.dtype)


class Attention(nn.Module):
    """Causal attention with RMSNorm on queries and keys (QK-norm keeps attention logits bounded)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps)

    def forward(self, x_BSD: torch.Tensor, cos_SK: torch.Tensor, sin_SK: torch.Tensor) -> torch.Tensor:
        B, S, _ = x_BSD.shape
        q_BHSK = self.q_norm(self.wq(x_BSD).view(B, S, self.n_heads, self.head_dim)).transpose(1, 2)
        k_BHSK = self.k_norm(self.wk(x_BSD).view(B, S, self.n_kv_heads, self.head_dim)).transpose(1, 2)
        v_BHSK = self.wv(x_BSD).view(B, S, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q_BHSK, k_BHSK = apply_rope(q_BHSK, cos_SK, sin_SK), apply_rope(k_BHSK, cos_SK, sin_SK)
        # right padding needs no mask under causal attention: real tokens never look at later positions
        o_BHSK = F.scaled_dot_product_attention(q_BHSK, k_BHSK, v_BHSK, is_causal=True,
                                                enable_gqa=self.n_kv_heads != self.n_heads)
        return self.wo(o_BHSK.transpose(1, 2).reshape(B, S, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm residual block; the feed-forward is dense or MoE. Signature x -> x so it can be checkpointed."""

    def __init__(self, layer_id: int, cfg: ModelConfig):
        super().__init__()
        self.layer_id = layer_id
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.is_moe = layer_id >= cfg.n_dense_layers
        if self.is_moe:
            m = cfg.moe
            shared = FeedForward(cfg.dim, m.n_shared_experts * m.expert_ffn_dim) if m.n_shared_experts else None
            self.ffn: nn.Module = MoE(cfg.dim, m, shared, layer_id=layer_id)
        else:
            self.ffn = FeedForward(cfg.dim, cfg.ffn_dim)

    def forward(self, x_BSD: torch.Tensor, cos_SK: torch.Tensor, sin_SK: torch.Tensor,
                mask_BS: torch.Tensor | None = None) -> torch.Tensor:
        h_BSD = x_BSD + self.attention(self.attention_norm(x_BSD), cos_SK, sin_SK)
        ffn_in_BSD = self.ffn_norm(h_BSD)
        return h_BSD + (self.ffn(ffn_in_BSD, mask_BS) if self.is_moe else self.ffn(ffn_in_BSD))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(i, cfg) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        cos_SK, sin_SK = rope_tables(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos_SK, persistent=False)
        self.register_buffer("rope_sin", sin_SK, persistent=False)
        self._recompute_plan: list[bool] = [False] * cfg.n_layers

    # --- activation checkpointing hook (the planner in trainer/recompute/ drives it) ---
    def set_recompute_plan(self, plan: Sequence[bool]) -> None:
        """Which blocks to recompute in backward instead of keeping their activations; takes effect next
        forward. A plain Python list read in forward: switching plans never rewraps modules."""
        if len(plan) != len(self.layers):
            raise ValueError(f"recompute plan has {len(plan)} entries for {len(self.layers)} blocks")
        self._recompute_plan = [bool(p) for p in plan]

    @property
    def recompute_plan(self) -> list[bool]:
        return list(self._recompute_plan)

    def forward(self, tokens_BS: torch.Tensor, labels_BS: torch.Tensor | None = None,
                mask_BS: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, S, vocab); or, given labels, the cross-entropy summed over non-padding labels.

        `mask_BS` (True at real tokens, from the loader) keeps padding out of the routers' load statistics and the
        balance loss; the attention needs none (right padding under a causal mask)."""
        S = tokens_BS.shape[1]
        if S > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {S} exceeds model.max_seq_len={self.cfg.max_seq_len}")
        cos_SK, sin_SK = self.rope_cos[:S], self.rope_sin[:S]
        h_BSD = self.tok_embeddings(tokens_BS)
        for block, recompute in zip(self.layers, self._recompute_plan, strict=True):
            if recompute and torch.is_grad_enabled():
                h_BSD = checkpoint(block, h_BSD, cos_SK, sin_SK, mask_BS, use_reentrant=False)
            else:
                h_BSD = block(h_BSD, cos_SK, sin_SK, mask_BS)
        if labels_BS is None:
            return self.output(self.norm(h_BSD))
        return self.loss_sum(h_BSD, labels_BS)

    def loss_sum(self, h_BSD: torch.Tensor, labels_BS: torch.Tensor) -> torch.Tensor:
        """Cross-entropy in chunks of tokens whose logits are recomputed in backward: with a 152k vocabulary
        the fp32 logits of a 16k-token batch alone would take 10 GB, here at most one chunk's exist."""
        h_TD, labels_T = h_BSD.flatten(0, 1), labels_BS.flatten()
        if h_TD.shape[0] <= LOSS_CHUNK_TOKENS or not torch.is_grad_enabled():
            return self._chunk_loss(h_TD, labels_T)
        chunks = zip(h_TD.split(LOSS_CHUNK_TOKENS), labels_T.split(LOSS_CHUNK_TOKENS), strict=True)
        return sum(checkpoint(self._chunk_loss, h, lab, use_reentrant=False) for h, lab in chunks)

    def _chunk_loss(self, h_TD: torch.Tensor, labels_T: torch.Tensor) -> torch.Tensor:
        logits_TV = self.output(self.norm(h_TD)).float()
        return F.cross_entropy(logits_TV, labels_T, ignore_index=IGNORE_INDEX, reduction="sum")

    def moe_layers(self) -> Iterator[MoE]:
        return (b.ffn for b in self.layers if isinstance(b.ffn, MoE))

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Normal(0, init_std) for every matrix (dots.llm1 uses 0.006), ones for norms, zero routing bias.
        Separate from __init__ so a model built on the meta device can be materialised with to_empty().

        With `generator` (a sharded model: trainer/parallelize.py seeds one per rank) each parameter's local shard
        is drawn from it, so every rank draws only what it holds and no two ranks draw the same values."""
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            elif generator is None:
                nn.init.normal_(p, mean=0.0, std=std)
            else:
                (p.to_local() if hasattr(p, "to_local") else p).normal_(0.0, std, generator=generator)
        for moe in self.moe_layers():
            moe.router.expert_bias.zero_()
            moe.router.tokens_per_expert.zero_()
        cos_SK, sin_SK = rope_tables(self.cfg.head_dim, self.cfg.max_seq_len, self.cfg.rope_theta)
        self.rope_cos.copy_(cos_SK)
        self.rope_sin.copy_(sin_SK)


def count_params(model: Transformer) -> tuple[int, int]:
    """(total, active per token): active counts only top_k of the n_routed_experts routed experts."""
    total = sum(p.numel() for p in model.parameters())
    inactive = 0
    for moe in model.moe_layers():
        routed = sum(p.numel() for p in moe.experts.parameters())
        inactive += routed - routed * moe.cfg.top_k // moe.cfg.n_routed_experts
    return total, total - inactive


def matmul_params(model: Transformer) -> int:
    """Parameters that do one multiply-add per token (active, without the embedding lookup)."""
    return count_params(model)[1] - model.tok_embeddings.weight.numel()


def flops_per_token(model: Transformer, seq_len: int) -> float:
    """Training FLOPs per token: 6 * active matmul params plus attention scores and values,
    12 * layers * heads * head_dim * seq_len (PaLM appendix B convention, causal mask not halved)."""
    c = model.cfg
    return 6.0 * matmul_params(model) + 12.0 * c.n_layers * c.n_heads * c.head_dim * seq_len
