"""`sluice train --plan` against bytes measured on the CPU (fp32): activations as trainer/recompute's
ActivationMeter counts them, parameters, gradients and optimizer state as the tensors hold them."""

import pytest
import torch

from trainer.config import load_config
from trainer.optim import build_optimizer
from trainer.plan import activation_plan, layouts, memory_plan, param_counts, parse_bytes
from trainer.recompute import ActivationMeter
from trainer.train import main

SMALL_SHAPED = {"model.vocab_size": 2048, "model.dim": 256, "model.n_layers": 3, "model.n_heads": 4,
                "model.head_dim": 64, "model.ffn_dim": 512, "model.moe.n_routed_experts": 16,
                "model.moe.expert_ffn_dim": 64, "model.max_seq_len": 512, "data.tokens_per_batch": 1024}


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("name,overrides,shape", [("tiny", {"model.vocab_size": 512}, (8, 128)),
                                                  ("small", SMALL_SHAPED, (4, 256))])
def test_plan_matches_measured_bytes_on_cpu(name, overrides, shape):
    cfg = load_config(name, overrides)
    torch.manual_seed(0)
    model = cfg.model.build()
    B, S = shape
    tokens = torch.randint(0, cfg.model.vocab_size, (B, S))
    meter = ActivationMeter(model)
    estimate = activation_plan(cfg.model, B, S, gpu=False)
    for plan, predicted in (([False] * cfg.model.n_layers, estimate.none), ([True] * cfg.model.n_layers,
                                                                           estimate.full)):
        model.set_recompute_plan(plan)
        meter.start(shape)
        model(tokens, tokens).backward()
        measured = meter.stop().peak_bytes(plan)
        assert abs(predicted / measured - 1) <= 0.10, (plan, predicted, measured)

    optimizer = build_optimizer(model, cfg.optim)
    optimizer.step()
    lp = memory_plan(cfg, gpus=1, gpu_mem=parse_bytes("80GiB"), gpu=False)[0]
    params = list(model.parameters())
    assert param_counts(cfg.model).total == sum(p.numel() for p in params)
    assert lp.params == tensor_bytes(params) and lp.grads == tensor_bytes(p.grad for p in params)
    moments = [t for st in optimizer.state.values() for k, t in st.items() if k != "step"]
    assert abs(lp.optimizer / tensor_bytes(moments) - 1) <= 0.10


def test_layouts_split_the_gpus_and_the_experts():
    assert layouts(8, 48) == [(8, 1), (4, 2), (2, 4), (1, 8)]
    assert layouts(6, 8) == [(6, 1), (3, 2)]  # ep 3 and 6 do not divide 8 experts
    assert parse_bytes("80GiB") == 80 * 2**30 and parse_bytes("141GB") == 141e9 and parse_bytes("1e9B") == 10**9
    with pytest.raises(ValueError, match="as a size"):
        parse_bytes("lots")
    with pytest.raises(ValueError, match="'80' has no unit: write e.g. 80GiB"):
        parse_bytes("80")  # not 80 bytes, not 80 GiB: one rule, the unit is required


def test_sharding_divides_the_fixed_bytes_and_recompute_the_activations():
    cfg = load_config("dots_llm1")
    one, many = memory_plan(cfg, 1, parse_bytes("80GiB")), memory_plan(cfg, 64, parse_bytes("80GiB"))
    assert not one[0].fits  # 142B parameters on one GPU
    assert all(lp.params == one[0].params // 64 for lp in many)
    assert all(lp.activations.full < lp.activations.none for lp in many)
    assert any(lp.fits for lp in many)
    # experts gathered over dp_shard only: more expert parallelism, smaller transient copies
    gathered = [lp.gathered for lp in many]
    assert gathered[0] > gathered[-1]


def test_plan_command(capsys, shard_dir):
    assert main(["--config", "dots_llm1", "--plan", "--gpus", "64", "--gpu-mem", "80GiB"]) == 0
    out = capsys.readouterr().out
    assert "64 x 1" in out and "8 x 8" in out and "do not fit: none" in out  # every layout of 64 fits
    assert "meta_init: on" in out  # the shipped config never builds the whole 571 GB model on a rank
    assert main(["--config", "dots_llm1", "--plan", "--gpus", "32", "--gpu-mem", "80GiB"]) == 1
    assert "layouts that fit: none" in capsys.readouterr().out
    assert main(["--config", "dots_llm1", "--plan", "--gpu-mem", "80"]) == 2
    assert "--gpu-mem: '80' has no unit" in capsys.readouterr().err
    assert main(["--config", "dots_llm1", "--plan", "--gpus", "1", "--gpu-mem", "80GiB"]) == 1
    assert "does not fit" in capsys.readouterr().out
    # tiny takes its vocabulary from the shards
    assert main(["--config", "tiny", "--plan"]) == 2
    assert "model.vocab_size is not set" in capsys.readouterr().err
    assert main(["--config", "tiny", "--plan", "--data", str(shard_dir), "--gpu-mem", "1GiB"]) == 0
    assert "fits without recompute" in capsys.readouterr().out


def test_a_layout_that_fits_under_full_recompute_gets_a_plan():
    cfg = load_config("small")  # 16k tokens per batch: the loss runs in checkpointed chunks
    for gpus, mem in ((2, "24GiB"), (1, "40GiB"), (8, "16GiB")):
        for lp in memory_plan(cfg, gpus, parse_bytes(mem)):
            if lp.total("full") <= lp.capacity:
                assert lp.fits and lp.total("planned") <= lp.capacity, (gpus, mem, lp)
                assert lp.activations.full <= lp.activations.planned <= lp.activations.none
