"""`sluice train --config NAME --plan --gpus G --gpu-mem 80GiB`: bytes per GPU before spending GPU hours.

For every layout of G ranks (dp_shard x ep = G, ep dividing the routed experts) it counts, per GPU:

    params        fp32 master weights: FSDP shards everything over all G ranks (experts over ep x dp_shard = G)
    grads         fp32, sharded the same way
    optimizer     AdamW's two fp32 moments, sharded the same way
    gathered      FSDP's transient full copies: the root group (embedding, output) in bf16 for the whole step,
                  two blocks in bf16 (the running one and the prefetched one; an MoE block's experts are gathered
                  over dp_shard only, so 1/ep of them) and one block's unsharded fp32 gradient before its
                  reduce-scatter; with ep > 1 the all-to-all buffers of one MoE layer's token slots
    activations   what autograd keeps for backward at the largest batch the loader forms (tokens_per_batch
                  tokens of max length), under each [recompute] mode: none, full, and planned (static and
                  mimose plan the same way for the largest shape: the fewest blocks recomputed that fit)

Activation bytes are counted tensor by tensor from what trainer/model.py and trainer/moe.py save (on CPU in
fp32; on GPU under bf16 autocast, where the residual stream and norm statistics stay fp32 and every autocast
linear keeps its own bf16 copy of its input). One GPU runs without FSDP: its fp32 weights are cast to bf16 by
autocast, and those copies live until backward. The CPU counts are what trainer/recompute's ActivationMeter
measures (the test compares them); GPU allocator fragmentation and kernel workspaces are not modelled, hence
the headroom column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trainer.model import LOSS_CHUNK_TOKENS, ModelConfig
from trainer.recompute.planner import choose_recompute

GIB = 2**30
HEADROOM = 0.10  # of device memory kept free for the allocator and kernels


def parse_bytes(text: str) -> int:
    """'80GiB', '80GB', '141e9B', '512MiB' -> bytes. The unit is required: a bare 80 could mean 80 bytes or 80 GiB,
    and reading it either way silently gives a plan for another machine."""
    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([KMGT]i?B?|B)?\s*", text)
    if not m:
        raise ValueError(f"cannot read {text!r} as a size (e.g. 80GiB, 141GB, 8e10B)")
    if not m.group(2):
        raise ValueError(f"{text!r} has no unit: write e.g. {m.group(1)}GiB, {m.group(1)}GB or {m.group(1)}B")
    unit = m.group(2).upper().rstrip("B") or "B"
    scale = {"B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}
    return int(float(m.group(1)) * scale[unit])


# --- parameters ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ParamCounts:
    total: int
    root: int  # embedding, output, final norm: FSDP's root group
    dense_block: int  # one dense block
    moe_block_shared: int  # one MoE block without its routed experts (attention, norms, gate, shared experts)
    moe_block_experts: int  # one MoE block's routed experts
    n_dense: int
    n_moe: int


def param_counts(cfg: ModelConfig) -> ParamCounts:
    D, m = cfg.dim, cfg.moe
    attention = D * cfg.n_heads * cfg.head_dim * 2 + D * cfg.n_kv_heads * cfg.head_dim * 2 + 2 * cfg.head_dim
    norms = 2 * D
    dense = attention + norms + 3 * D * cfg.ffn_dim
    shared = attention + norms + m.n_routed_experts * D + 3 * D * m.n_shared_experts * m.expert_ffn_dim
    experts = 3 * m.n_routed_experts * m.expert_ffn_dim * D
    root = 2 * cfg.vocab_size * D + D
    n_moe = cfg.n_layers - cfg.n_dense_layers
    return ParamCounts(root + cfg.n_dense_layers * dense + n_moe * (shared + experts), root, dense, shared, experts,
                       cfg.n_dense_layers, n_moe)


# --- activations -----------------------------------------------------------------------------------------------

def _norm_bytes(rows: int, width: int, heads: int = 1) -> int:
    """RMSNorm (computed in fp32) keeps its fp32 input, the normalised input (for the weight's gradient) and
    one rstd per row and head."""
    return rows * width * 4 * 2 + rows * heads * 4


def block_bytes(cfg: ModelConfig, B: int, S: int, gpu: bool, moe: bool) -> tuple[int, int]:
    """(A, I): what one block keeps for backward when it is not recomputed, and when it is (its input only)."""
    T, D, m = B * S, cfg.dim, cfg.moe
    Hq, Hkv = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    a = 2 if gpu else 4  # bytes of an activation that autocast computes in bf16
    f32, i64 = 4, 8

    def linear_inputs(n_linears: int) -> int:
        # on CPU the norm's output (fp32) once; under autocast each linear keeps its own bf16 cast of it
        return n_linears * T * D * a if gpu else T * D * f32

    total = _norm_bytes(T, D) + linear_inputs(3)  # attention norm (its input is the block input), q k v inputs
    total += _norm_bytes(T, Hq, cfg.n_heads) + _norm_bytes(T, Hkv, cfg.n_kv_heads)  # QK-norm
    total += (2 * T * Hq + 2 * T * Hkv) * a + T * cfg.n_heads * f32  # SDPA: q, k, v, output (= wo input), lse
    total += _norm_bytes(T, D)  # FFN norm; its input is the residual after attention
    x = T * D * f32  # the block's input, the residual stream (fp32 also under autocast)
    if not moe:
        return total + linear_inputs(2) + 4 * T * cfg.ffn_dim * a, x  # w1/w3 input, w1 out, silu, w3 out, product
    E, K, Fe = m.n_routed_experts, m.top_k, m.expert_ffn_dim
    N = T * K
    total += T * D * f32  # the normed input in fp32: the gate's input
    total += T * E * f32 + T * K * i64 + T * K * f32 + T * f32  # scores, top-k ids, weights, their sum
    if m.seq_balance_coef > 0:
        total += T * f32 + B * E * f32  # score sums, the sequence's mean scores
    total += 2 * N * i64 + E * 4  # dispatch gather index, combine scatter index, group offsets
    total += N * D * a + 4 * N * Fe * a  # sorted token slots; w1 out, silu out, w3 out, product
    total += 2 * N * D * a + T * K * a  # expert outputs (sorted and unsorted), combine weights
    if m.n_shared_experts:
        total += (2 * T * D * a if gpu else 0) + 4 * T * m.n_shared_experts * Fe * a
    return total, x


def residual_bytes(cfg: ModelConfig, B: int, S: int, gpu: bool) -> tuple[int, int]:
    """(kept, working): outside the blocks, what is kept for backward (token ids, labels, final norm, the loss)
    and the largest transient of the loss (one checkpointed chunk, recomputed in backward, when T > a chunk)."""
    T, D, V = B * S, cfg.dim, cfg.vocab_size
    kept = 2 * T * 8  # token ids (embedding), labels

    def chunk_bytes(rows: int) -> int:  # final norm, output projection input, log-softmax output
        return _norm_bytes(rows, D) + rows * D * (2 if gpu else 4) + rows * V * 4

    if T <= LOSS_CHUNK_TOKENS:
        return kept + chunk_bytes(T), 0
    return kept + T * D * 4, chunk_bytes(LOSS_CHUNK_TOKENS)  # chunks keep only their input until backward


def weight_cast_bytes(cfg: ModelConfig) -> int:
    """One GPU without FSDP: autocast's bf16 copies of every matrix (kept until backward), and the experts'
    explicit bf16 copies for the grouped GEMM."""
    p = param_counts(cfg)
    return 2 * (p.total - cfg.vocab_size * cfg.dim)  # the embedding is looked up in fp32, not cast


@dataclass(slots=True)
class ActivationPlan:
    none: int
    full: int
    planned: int | None  # the cheapest plan that fits the room left; None when even full recompute does not
    recomputed_blocks: int | None


def activation_plan(cfg: ModelConfig, B: int, S: int, gpu: bool, room: float | None = None) -> ActivationPlan:
    kept_out, working = residual_bytes(cfg, B, S, gpu)
    kept, inputs = [], []
    for i in range(cfg.n_layers):
        a, x = block_bytes(cfg, B, S, gpu, moe=i >= cfg.n_dense_layers)
        kept.append(a)
        inputs.append(x)
    none = kept_out + sum(kept) + working
    full = kept_out + sum(inputs) + max(max(a - x for a, x in zip(kept, inputs, strict=True)), working)
    planned = blocks = None
    budget = room
    while room is not None and budget > 0:
        # the planner models kept(R) + the largest recompute working set; the loss chunk's working set comes at
        # the start of backward, before any recompute: peak = kept(R) + max(that, the loss's)
        choice = choose_recompute(kept, inputs, kept, kept_out, budget)
        if not choice.fits:
            break
        kept_r = kept_out + sum(x if r else a for a, x, r in zip(kept, inputs, choice.recompute, strict=True))
        peak = max(choice.peak_bytes, kept_r + working)
        if peak <= room:
            planned, blocks = int(peak), sum(choice.recompute)
            break
        budget -= peak - room  # ask for that much less and plan again
    return ActivationPlan(none, full, planned, blocks)


# --- layouts ---------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class LayoutPlan:
    dp_shard: int
    ep: int
    params: int
    grads: int
    optimizer: int
    gathered: int
    activations: ActivationPlan
    capacity: int

    @property
    def fixed(self) -> int:
        return self.params + self.grads + self.optimizer + self.gathered

    def total(self, mode: str) -> int | None:
        act = {"none": self.activations.none, "full": self.activations.full,
               "planned": self.activations.planned}[mode]
        return None if act is None else self.fixed + act

    @property
    def fits(self) -> bool:
        return self.activations.planned is not None


def layouts(gpus: int, n_routed_experts: int) -> list[tuple[int, int]]:
    return [(gpus // ep, ep) for ep in range(1, gpus + 1) if gpus % ep == 0 and n_routed_experts % ep == 0]


def plan_layout(cfg, gpus: int, dp_shard: int, ep: int, gpu_mem: int, gpu: bool = True) -> LayoutPlan:
    """Bytes per GPU of `cfg` (a JobConfig) at this layout; activations at the largest batch shape."""
    mc = cfg.model
    p = param_counts(mc)
    W = gpus
    params, grads, optimizer = 4 * p.total // W, 4 * p.total // W, 8 * p.total // W
    S = cfg.seq_len
    B = max(1, cfg.data.tokens_per_batch // S)
    if W == 1:
        gathered = weight_cast_bytes(mc) if gpu else 0
    else:
        moe_block = p.moe_block_shared + p.moe_block_experts // ep if p.n_moe else 0
        biggest = max(p.dense_block if p.n_dense else 0, moe_block)
        gathered = 2 * p.root + 2 * 2 * biggest + 4 * biggest
        if ep > 1 and p.n_moe:
            gathered += 2 * (B * S * mc.moe.top_k * mc.dim * (2 if gpu else 4))  # all-to-all send and receive
    capacity = int(gpu_mem * (1 - HEADROOM))
    room = capacity - (params + grads + optimizer + gathered)
    acts = activation_plan(mc, B, S, gpu, room=room if room > 0 else -1.0)
    return LayoutPlan(dp_shard, ep, params, grads, optimizer, gathered, acts, capacity)


def memory_plan(cfg, gpus: int, gpu_mem: int, gpu: bool = True) -> list[LayoutPlan]:
    return [plan_layout(cfg, gpus, d, e, gpu_mem, gpu) for d, e in layouts(gpus, cfg.model.moe.n_routed_experts)]


def format_plan(name: str, cfg, gpus: int, gpu_mem: int, plans: list[LayoutPlan]) -> str:
    S = cfg.seq_len
    B = max(1, cfg.data.tokens_per_batch // S)
    p = param_counts(cfg.model)
    lines = [f"{name}: {p.total / 1e9:.2f}B parameters; batch per GPU {B} x {S} tokens; {gpus} GPU(s) of "
             f"{gpu_mem / GIB:.1f} GiB ({HEADROOM:.0%} kept free: {plans[0].capacity / GIB:.1f} GiB usable)"
             if plans else f"{name}: no layout of {gpus} GPUs divides the {cfg.model.moe.n_routed_experts} experts"]
    head = (f"{'dp_shard x ep':>13} {'params':>8} {'grads':>8} {'optim':>8} {'gathered':>9} | {'act none':>9} "
            f"{'act full':>9} {'act plan':>9} | {'total none':>10} {'total full':>10} {'total plan':>10}  verdict")
    lines += ["per GPU, GiB:", head]

    def g(x: int | None) -> str:
        return "-" if x is None else f"{x / GIB:.2f}"

    for lp in plans:
        a = lp.activations
        if lp.total("none") <= lp.capacity:
            verdict = "fits without recompute"
        elif lp.fits:
            verdict = f"fits recomputing {a.recomputed_blocks} of {cfg.model.n_layers} blocks"
        else:
            verdict = "does not fit"
        lines.append(f"{f'{lp.dp_shard} x {lp.ep}':>13} {g(lp.params):>8} {g(lp.grads):>8} {g(lp.optimizer):>8} "
                     f"{g(lp.gathered):>9} | {g(a.none):>9} {g(a.full):>9} {g(a.planned):>9} | "
                     f"{g(lp.total('none')):>10} {g(lp.total('full')):>10} {g(lp.total('planned')):>10}  {verdict}")
    fitting = [f"{lp.dp_shard}x{lp.ep}" for lp in plans if lp.fits]
    lines.append(f"layouts that fit: {', '.join(fitting) or 'none'}; "
                 f"do not fit: {', '.join(f'{lp.dp_shard}x{lp.ep}' for lp in plans if not lp.fits) or 'none'}")
    lines.append("(act plan: [recompute] static / mimose at the largest shape; run with "
                 "--set parallel.dp_shard=D --set parallel.ep=E under torchrun)")
    lines.append(meta_init_line(cfg, gpus))
    return "\n".join(lines)


def meta_init_line(cfg, gpus: int) -> str:
    """Whether several ranks build the model shard by shard (parallel.meta_init) or each builds it whole first."""
    whole = 4 * param_counts(cfg.model).total
    if cfg.parallel.meta_init:
        return "meta_init: on (each rank materialises only its own shards)"
    if gpus == 1:
        return "meta_init: off (one GPU builds the whole model anyway)"
    return (f"meta_init: off: every rank first builds the whole model in fp32 ({whole / GIB:,.1f} GiB) before "
            "sharding it; set parallel.meta_init = true when that does not fit")


def print_plan(name: str, cfg, gpus: int, gpu_mem: str) -> int:
    """`sluice train --plan`: prints the table; 0 when some layout fits, 1 when none does."""
    from pipeline.config import ConfigError

    if gpus < 1:
        raise ConfigError(f"--gpus {gpus}: must be >= 1")
    try:
        mem = parse_bytes(gpu_mem)
    except ValueError as e:
        raise ConfigError(f"--gpu-mem: {e}") from None
    plans = memory_plan(cfg, gpus, mem)
    print(format_plan(name, cfg, gpus, mem, plans))
    return 0 if any(lp.fits for lp in plans) else 1


# --- before anything is allocated ------------------------------------------------------------------------------

def device_capacity(device) -> int:
    """Bytes of one device: a GPU's memory, or the host's physical memory for the CPU."""
    import os

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fixed_bytes(cfg: ModelConfig, world_size: int, training: bool = True, meta_init: bool = False) -> int:
    """What a rank holds whatever the batch: fp32 weights (the whole model while it is built, unless it is built
    on the meta device), gradients and AdamW's two moments sharded over the ranks, and the RoPE tables."""
    total = param_counts(cfg).total
    sharded = (16 if training else 4) * total // world_size
    built = 0 if meta_init or world_size == 1 else 4 * total
    return max(sharded, built) + 2 * 4 * cfg.max_seq_len * cfg.head_dim


def check_fits(cfg: ModelConfig, device, world_size: int = 1, training: bool = True,
               meta_init: bool = False) -> None:
    """ConfigError, before any allocation, for a shape no device of this kind can hold (a vocabulary of 2^40, a
    max_seq_len of 1e9): the size would otherwise surface as a crash deep in an allocation, or swap the host."""
    from pipeline.config import ConfigError

    need, have = fixed_bytes(cfg, world_size, training, meta_init), device_capacity(device)
    if need > have:
        what = "weights, gradients and AdamW state" if training else "weights"
        raise ConfigError(f"the model needs {need / GIB:,.1f} GiB per rank for its {what} and RoPE tables "
                          f"({param_counts(cfg).total / 1e9:,.2f}B parameters: vocab_size {cfg.vocab_size}, dim "
                          f"{cfg.dim}, max_seq_len {cfg.max_seq_len}); a {device.type} device here has "
                          f"{have / GIB:,.1f} GiB (see `sluice train --plan`)")
