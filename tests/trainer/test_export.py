"""The exported directory loads as transformers' Dots1ForCausalLM and gives our logits (fp32, <= 1e-4)."""

import json

import pytest
import torch

from tests.trainer.conftest import add_tokenizer, pattern_docs, write_shards
from trainer.config import load_config
from trainer.export import ExportError, dots1_config, load_run, main, write_hf
from trainer.loop import train
from trainer.model import ModelConfig
from trainer.moe import MoEConfig

transformers = pytest.importorskip("transformers", reason="transformers (dev extra) is the reference Dots1 model")


def random_model(cfg: ModelConfig, seed: int = 0):
    """Weights far from init (std 0.2) and a routing bias that changes the picks, so a wrong mapping shows."""
    torch.manual_seed(seed)
    model = cfg.build()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(1.0 + 0.1 * torch.randn_like(p) if name.endswith("norm.weight") else 0.2 * torch.randn_like(p))
        for moe in model.moe_layers():
            moe.router.expert_bias.copy_(0.3 * torch.randn_like(moe.router.expert_bias))
    return model.eval()


def hf_logits(path, tokens):
    hf = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        return hf, hf(tokens).logits


@pytest.mark.parametrize("top_k,n_dense,kv_heads", [(2, 1, 4), (1, 0, 2)])
def test_hf_dots1_gives_our_logits(tmp_path, top_k, n_dense, kv_heads):
    cfg = ModelConfig(vocab_size=96, dim=32, n_layers=3, n_heads=4, n_kv_heads=kv_heads, ffn_dim=48,
                      n_dense_layers=n_dense, max_seq_len=64, rope_theta=5e5, norm_eps=1e-6, eos_id=3,
                      moe=MoEConfig(n_routed_experts=6, n_shared_experts=2, top_k=top_k, expert_ffn_dim=16,
                                    route_scale=2.5))
    model = random_model(cfg)
    out = write_hf(cfg, model, tmp_path / "hf", dtype="float32")
    tokens = torch.randint(0, cfg.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    hf, theirs = hf_logits(out, tokens)
    with torch.no_grad():
        ours = model(tokens)
    assert (ours - theirs).abs().max() <= 1e-4
    # the same experts are picked in every MoE layer
    x = torch.randn(50, cfg.dim)
    for moe, layer in zip(model.moe_layers(), [ly for ly in hf.model.layers if hasattr(ly.mlp, "gate")], strict=True):
        _, ids, _ = moe.router(x)
        _, _, hf_ids = layer.mlp.gate(x)
        assert torch.equal(ids.sort(-1).values, hf_ids.sort(-1).values)


def test_config_sets_every_dots1_field_the_defaults_get_wrong():
    cfg = load_config("dots_llm1").model
    written = dots1_config(cfg)
    defaults = transformers.Dots1Config()
    for key in transformers.Dots1Config.__annotations__:  # the fields Dots1Config itself declares
        assert key in written, f"config.json leaves {key} to Dots1Config's default {getattr(defaults, key, None)!r}"
    assert written["norm_topk_prob"] is True and written["routed_scaling_factor"] == 2.5
    assert written["first_k_dense_replace"] == 1 and written["rms_norm_eps"] == 1e-5
    assert written["rope_parameters"]["rope_theta"] == 1e7 and written["n_routed_experts"] == 128
    hf_cfg = transformers.Dots1Config(**{k: v for k, v in written.items() if k not in ("architectures",
                                                                                        "model_type")})
    assert hf_cfg.num_local_experts == 128 and hf_cfg.layer_types == ["full_attention"] * 62


def test_a_softmax_router_cannot_be_exported():
    with pytest.raises(ExportError, match="sigmoid"):
        dots1_config(ModelConfig(vocab_size=8, moe=MoEConfig(score_func="softmax")))


def test_export_hf_command_on_a_trained_run(tmp_path, capsys):
    shards = write_shards(tmp_path / "shards", pattern_docs(120), vocab_size=512, eos_id=0)
    add_tokenizer(shards)
    cfg = load_config("tiny", {"train.steps": 2, "train.log_every": 100})
    train(cfg, shards, tmp_path / "run")

    assert main([str(tmp_path / "run"), str(tmp_path / "hf"), "--dtype", "float32"]) == 0
    files = {p.name for p in (tmp_path / "hf").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= files
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["eos_token_id"] == 0
    _, model = load_run(tmp_path / "run")
    tokens = torch.randint(0, 512, (1, 30), generator=torch.Generator().manual_seed(0))
    _, theirs = hf_logits(tmp_path / "hf", tokens)
    with torch.no_grad():
        assert (model.eval()(tokens) - theirs).abs().max() <= 1e-4
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == tok.eos_token
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["pad_token_id"] == 0
    assert "Dots1ForCausalLM" in (tmp_path / "hf" / "README.md").read_text()  # the model card
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (tmp_path / "hf").iterdir())

    assert main([str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "config.json: missing" in capsys.readouterr().err

    # the run's tokenizer.json must fit the model: damaged or of another vocabulary, it is one line and rc 2
    (tmp_path / "run" / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0, "b": 1}}}')
    assert main([str(tmp_path / "run"), str(tmp_path / "hf2")]) == 2
    assert "a vocabulary of 2 ids, the model's is 512" in capsys.readouterr().err
    (tmp_path / "run" / "tokenizer.json").write_text('{"model": ')
    assert main([str(tmp_path / "run"), str(tmp_path / "hf2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tokenizer.json: not a tokenizer.json" in err[0], err
    assert not (tmp_path / "hf2").exists()
