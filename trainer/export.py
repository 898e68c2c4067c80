"""`sluice export-hf RUN_DIR OUT_DIR`: a trained run as a Hugging Face `dots1` model directory.

Writes `config.json` (model_type `dots1`), `model.safetensors` and the shards' `tokenizer.json`, so the run loads
with `transformers.AutoModelForCausalLM` (Dots1ForCausalLM), evaluates with lm-evaluation-harness and serves with
vLLM. The forward pass of our Transformer equals Dots1ForCausalLM's for the same weights; the name mapping below
is the only translation.

Every Dots1Config field is written explicitly: its defaults are not the released model (hidden 4608,
norm_topk_prob False, routed_scaling_factor 1.0, first_k_dense_replace 0, eps 1e-6, rope theta 1e4, sliding
window 4096), so a field left out would silently change the model that loads.

Experts are written one tensor per expert and projection (`mlp.experts.{e}.gate_proj.weight`), the layout of
the released dots.llm1 checkpoint that vLLM reads; transformers fuses them into `gate_up_proj` when loading.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from pipeline.config import ConfigError
from trainer.model import ModelConfig, Transformer
from trainer.saved_files import DIGESTS_FILE, CheckpointError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ExportError(ValueError):
    """The run cannot be exported (no saved state, or a model Dots1 cannot express); the message says why."""


def dots1_config(cfg: ModelConfig, dtype: str = "bfloat16") -> dict:
    """config.json for Dots1ForCausalLM, every field set."""
    m = cfg.moe
    if m.score_func != "sigmoid":
        raise ExportError(f"moe.score_func={m.score_func!r}: Dots1 routes with sigmoid scores only")
    if m.n_shared_experts < 1:
        raise ExportError("moe.n_shared_experts=0: Dots1 always has shared experts")
    eos = cfg.eos_id if cfg.eos_id >= 0 else None
    return {
        "architectures": ["Dots1ForCausalLM"],
        "model_type": "dots1",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.dim,
        "intermediate_size": cfg.ffn_dim,
        "moe_intermediate_size": m.expert_ffn_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim,
        "n_shared_experts": m.n_shared_experts,
        "n_routed_experts": m.n_routed_experts,
        "num_experts_per_tok": m.top_k,
        "n_group": 1,  # no group-limited routing
        "topk_group": 1,
        "first_k_dense_replace": cfg.n_dense_layers,
        # top-k weights are renormalised only when K > 1 here; with one expert the weight is the raw score
        "norm_topk_prob": bool(m.norm_topk_prob and m.top_k > 1),
        "routed_scaling_factor": m.route_scale,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "initializer_range": cfg.init_std,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,  # read by vLLM and older transformers
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "sliding_window": None,  # every layer attends to the whole sequence
        "max_window_layers": cfg.n_layers,
        "layer_types": ["full_attention"] * cfg.n_layers,
        "tie_word_embeddings": False,
        "use_cache": True,
        "output_router_logits": False,
        "bos_token_id": None,
        "eos_token_id": eos,
        "pad_token_id": eos,  # batched generation pads with EOS; training never learned from padding
        "torch_dtype": dtype,
        "dtype": dtype,
    }


def dots1_state_dict(model: Transformer, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Our parameter and buffer names -> Dots1ForCausalLM's. The router's gate and bias stay fp32 (Dots1 keeps
    them fp32 too: near-ties between experts decide routing)."""
    out: dict[str, torch.Tensor] = {}

    def put(name: str, t: torch.Tensor, keep_fp32: bool = False) -> None:
        out[name] = t.detach().to(torch.float32 if keep_fp32 else dtype).contiguous().cpu()

    put("model.embed_tokens.weight", model.tok_embeddings.weight)
    put("model.norm.weight", model.norm.weight)
    put("lm_head.weight", model.output.weight)
    for i, block in enumerate(model.layers):
        p = f"model.layers.{i}"
        put(f"{p}.input_layernorm.weight", block.attention_norm.weight)
        put(f"{p}.post_attention_layernorm.weight", block.ffn_norm.weight)
        att = block.attention
        for ours, theirs in (("wq", "q_proj"), ("wk", "k_proj"), ("wv", "v_proj"), ("wo", "o_proj")):
            put(f"{p}.self_attn.{theirs}.weight", getattr(att, ours).weight)
        put(f"{p}.self_attn.q_norm.weight", att.q_norm.weight)
        put(f"{p}.self_attn.k_norm.weight", att.k_norm.weight)
        if block.is_moe:
            moe = block.ffn
            put(f"{p}.mlp.gate.weight", moe.router.gate.weight, keep_fp32=True)
            put(f"{p}.mlp.gate.e_score_correction_bias", moe.router.expert_bias, keep_fp32=True)
            ex = moe.experts
            for e in range(ex.w1.shape[0]):
                put(f"{p}.mlp.experts.{e}.gate_proj.weight", ex.w1[e])
                put(f"{p}.mlp.experts.{e}.up_proj.weight", ex.w3[e])
                put(f"{p}.mlp.experts.{e}.down_proj.weight", ex.w2[e])
            _put_mlp(put, f"{p}.mlp.shared_experts", moe.shared_experts)
        else:
            _put_mlp(put, f"{p}.mlp", block.ffn)
    return out


def _put_mlp(put, prefix: str, ffn) -> None:
    put(f"{prefix}.gate_proj.weight", ffn.w1.weight)
    put(f"{prefix}.up_proj.weight", ffn.w3.weight)
    put(f"{prefix}.down_proj.weight", ffn.w2.weight)


def load_run(run_dir: str | Path, state: str | Path | None = None) -> tuple[ModelConfig, Transformer]:
    """The run's model config (its config.json, vocabulary resolved at training time) and the weights of its
    newest complete saved state (or `state`), in one process on the CPU."""
    from trainer import checkpoint
    from trainer.config import job_config_from_dict
    from trainer.plan import check_fits

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ExportError(f"{config_path}: missing (not a run directory of `sluice train`)")
    try:
        data = json.loads(config_path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        cfg = job_config_from_dict(data)
    except (ValueError, ConfigError) as e:
        raise ExportError(f"{config_path}: {e}") from None
    try:
        if state:  # the state asked for, or nothing: never another one in its place
            path = Path(state)
            if not checkpoint.is_complete(path):
                raise ExportError(f"{path}: not a complete saved state (no {DIGESTS_FILE})")
            if problem := checkpoint.check_state(path):
                raise ExportError(problem)
        else:
            path = checkpoint.newest_intact(run_dir / "checkpoints", warn_prefix="sluice export-hf: ")
        if path is None:
            raise ExportError(f"{run_dir / 'checkpoints'}: no complete saved state to export")
        check_fits(cfg.model, torch.device("cpu"), training=False)
        with torch.device("meta"):
            model = Transformer(cfg.model)
        model.to_empty(device="cpu")
        model.init_weights()  # buffers (RoPE tables); every parameter is overwritten by the load
        checkpoint.load_model_weights(path, model, checked=True)
    except (CheckpointError, ConfigError) as e:
        raise ExportError(str(e)) from None
    return cfg.model, model


def export_hf(run_dir: str | Path, out_dir: str | Path, tokenizer: str | Path | None = None,
              dtype: str = "bfloat16", state: str | Path | None = None) -> Path:
    """Writes OUT_DIR atomically (a temporary sibling renamed into place); returns it."""
    if dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype!r}: one of {', '.join(DTYPES)}")
    cfg, model = load_run(run_dir, state)
    return write_hf(cfg, model, out_dir, Path(tokenizer) if tokenizer else _shards_tokenizer(run_dir), dtype)


def write_hf(cfg: ModelConfig, model: Transformer, out_dir: str | Path, tokenizer: Path | None = None,
             dtype: str = "bfloat16") -> Path:
    """The model directory for `cfg` and `model`'s weights, written atomically."""
    from safetensors.torch import save_file

    checked = _checked_tokenizer(tokenizer, cfg) if tokenizer is not None else None
    out = Path(out_dir)
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "config.json").write_text(json.dumps(dots1_config(cfg, dtype), indent=2) + "\n")
    (tmp / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": cfg.eos_id if cfg.eos_id >= 0 else None, "bos_token_id": None,
         "pad_token_id": cfg.eos_id if cfg.eos_id >= 0 else None}, indent=2) + "\n")
    save_file(dots1_state_dict(model, DTYPES[dtype]), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    if checked is not None:
        raw, eos = checked
        (tmp / "tokenizer.json").write_bytes(raw)  # the bytes that were checked
        (tmp / "tokenizer_config.json").write_text(json.dumps(
            {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos, "pad_token": eos,
             "model_max_length": cfg.max_seq_len}, indent=2) + "\n")
    (tmp / "README.md").write_text(model_card(cfg, model, dtype, checked is not None))
    for f in tmp.iterdir():  # safetensors writes 0600; a model directory is meant to be shared
        f.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def model_card(cfg: ModelConfig, model: Transformer, dtype: str, has_tokenizer: bool) -> str:
    from trainer.model import count_params

    total, active = count_params(model)
    m = cfg.moe
    return "\n".join([
        "---", "library_name: transformers", "pipeline_tag: text-generation", "---", "",
        "# A dots.llm1-style MoE model trained with Sluice", "",
        "Exported by `sluice export-hf` from a `sluice train` run: Hugging Face `Dots1ForCausalLM`, weights in "
        f"{dtype}.", "",
        f"- parameters: {total / 1e9:.3f}B total, {active / 1e9:.3f}B active per token",
        f"- {cfg.n_layers} layers ({cfg.n_dense_layers} dense), hidden {cfg.dim}, {cfg.n_heads} heads of "
        f"{cfg.head_dim} with QK-norm, context {cfg.max_seq_len}",
        f"- {m.n_routed_experts} routed experts (top-{m.top_k}, {m.score_func} scores) of FFN {m.expert_ffn_dim}, "
        f"{m.n_shared_experts} shared",
        f"- vocabulary {cfg.vocab_size}; EOS id {cfg.eos_id}, also the pad id; "
        + ("tokenizer included" if has_tokenizer else "no tokenizer included"), "",
        "```python",
        "from transformers import AutoModelForCausalLM",
        "model = AutoModelForCausalLM.from_pretrained(PATH)",
        "```", ""])


def _shards_tokenizer(run_dir: str | Path) -> Path | None:
    """The shards' tokenizer.json, which `sluice train` copies into the run directory."""
    path = Path(run_dir) / "tokenizer.json"
    return path if path.is_file() else None


def _checked_tokenizer(path: Path, cfg: ModelConfig) -> tuple[bytes, str | None]:
    """The tokenizer.json's bytes and its EOS token's text, after checking it fits the model (valid JSON, as many
    ids as model.vocab_size, a token at model.eos_id): a model shipped with another vocabulary is useless."""
    from pipeline.shards.format import tokenizer_vocab_size

    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        data = json.loads(text)
        size = tokenizer_vocab_size(text)
        vocab = (data.get("model") or {}).get("vocab") or {}
        added = {t["id"]: t["content"] for t in data.get("added_tokens") or []}
    except (OSError, ValueError, AttributeError, TypeError, KeyError) as e:
        raise ExportError(f"{path}: not a tokenizer.json ({e})") from None
    if size is not None and size != cfg.vocab_size:
        raise ExportError(f"{path}: a vocabulary of {size} ids, the model's is {cfg.vocab_size}")
    if cfg.eos_id < 0:
        return raw, None
    if isinstance(vocab, dict):
        eos = added.get(cfg.eos_id) or next((t for t, i in vocab.items() if i == cfg.eos_id), None)
    else:  # Unigram: [[piece, score], ...]
        eos = added.get(cfg.eos_id) or (vocab[cfg.eos_id][0] if cfg.eos_id < len(vocab) else None)
    if eos is None:
        raise ExportError(f"{path}: no token has the model's EOS id {cfg.eos_id}")
    return raw, eos


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sluice export-hf", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a `sluice train --out` directory")
    p.add_argument("out_dir", help="the Hugging Face model directory to write")
    p.add_argument("--tokenizer", help="tokenizer.json (default: the shards' copy in RUN_DIR)")
    p.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES), help="weights' dtype (router stays fp32)")
    p.add_argument("--state", help="a saved state directory (default: the run's newest complete one)")
    args = p.parse_args(argv)
    try:
        out = export_hf(args.run_dir, args.out_dir, args.tokenizer, args.dtype, args.state)
    except (ExportError, FileNotFoundError) as e:
        print(f"sluice export-hf: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}: {', '.join(sorted(f.name for f in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
