import pytest
import torch

from trainer.config import load_config
from trainer.model import ModelConfig, count_params, flops_per_token
from trainer.moe import MoEConfig
from trainer.train import main


def test_dots_llm1_parameter_count_matches_the_report(capsys):
    assert main(["--config", "dots_llm1", "--count-params"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fields = dict(kv.split("=") for kv in last.split())
    total, active = int(fields["total_params"]), int(fields["active_params"])
    assert abs(total / 142e9 - 1) < 0.02, total
    assert abs(active / 14e9 - 1) < 0.02, active


def test_small_fits_one_gpu():
    total, active = count_params(load_config("small").model.build("meta"))
    assert 1e9 <= total <= 2e9 and active < total


def tiny_model(**moe) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=64, dim=32, n_layers=3, n_heads=4, ffn_dim=64, max_seq_len=32,
                      moe=MoEConfig(n_routed_experts=4, top_k=2, expert_ffn_dim=16, **moe))
    return cfg.build()


def grads(model, tokens, plan):
    model.zero_grad()
    model.set_recompute_plan(plan)
    model(tokens).square().mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_recompute_plan_changes_between_steps_without_changing_gradients():
    model = tiny_model(seq_balance_coef=0.01)
    model.train()
    tokens = torch.randint(0, 64, (2, 16))
    reference = grads(model, tokens, [False] * 3)
    for plan in ([True] * 3, [False, True, False], [True, False, True]):
        got = grads(model, tokens, plan)
        assert model.recompute_plan == plan
        for name in reference:
            torch.testing.assert_close(got[name], reference[name], rtol=1e-5, atol=1e-7, msg=name)


def test_recompute_plan_must_cover_every_block():
    with pytest.raises(ValueError, match="3 blocks"):
        tiny_model().set_recompute_plan([True])


def test_first_layers_are_dense_and_the_rest_moe():
    model = tiny_model()
    assert [b.is_moe for b in model.layers] == [False, True, True]
    assert len(list(model.moe_layers())) == 2


def test_too_long_input_is_refused():
    with pytest.raises(ValueError, match="max_seq_len"):
        tiny_model()(torch.zeros(1, 33, dtype=torch.long))


def test_flops_per_token_counts_attention():
    model = tiny_model()
    assert flops_per_token(model, 32) - flops_per_token(model, 16) == 12 * 3 * 4 * 8 * 16


def test_chunked_loss_equals_the_plain_loss(monkeypatch):
    import torch.nn.functional as F

    import trainer.model

    model = tiny_model()
    tokens, labels = torch.randint(0, 64, (2, 16)), torch.randint(0, 64, (2, 16))
    labels[1, 10:] = trainer.model.IGNORE_INDEX
    plain = F.cross_entropy(model(tokens).flatten(0, 1), labels.flatten(), reduction="sum")
    plain.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    monkeypatch.setattr(trainer.model, "LOSS_CHUNK_TOKENS", 7)
    chunked = model(tokens, labels)
    chunked.backward()
    torch.testing.assert_close(chunked, plain)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, want[n], msg=n)


def test_init_std_is_the_reports():
    model = ModelConfig(vocab_size=512, dim=256, ffn_dim=512, n_heads=4).build()
    assert model.layers[0].ffn.w1.weight.std().item() == pytest.approx(0.006, rel=0.05)
    assert torch.all(model.norm.weight == 1) and torch.all(model.layers[1].attention.q_norm.weight == 1)
