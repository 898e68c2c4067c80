"""Padding (id 0, which is also EOS in real shards) is kept out of routing by the loader's mask: a batch padded to
twice its length gives the same router statistics, bias update, balance loss and LM loss as the same tokens
without padding."""

import torch

from trainer.config import load_config
from trainer.model import IGNORE_INDEX, FeedForward
from trainer.moe import MoE, MoEConfig, update_expert_biases

D = 32


def make_moe(seed: int = 0) -> MoE:
    torch.manual_seed(seed)
    moe = MoE(D, MoEConfig(n_routed_experts=8, top_k=2, expert_ffn_dim=16, seq_balance_coef=0.1), FeedForward(D, 16))
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return moe.train()


def test_half_padding_gives_the_same_router_update_as_no_padding():
    x_real = torch.randn(2, 8, D)
    x_padded = torch.cat([x_real, 5 * torch.randn(2, 8, D)], dim=1)  # padding rows unlike the real ones
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :8] = True
    plain, padded = make_moe(), make_moe()
    plain(x_real)
    padded(x_padded, mask)
    assert torch.equal(plain.router.tokens_per_expert, padded.router.tokens_per_expert)
    assert padded.router.tokens_per_expert.sum() == 2 * 8 * 2  # only the real tokens' slots
    torch.testing.assert_close(plain.router.bias_step_sum, padded.router.bias_step_sum)
    torch.testing.assert_close(plain.aux_loss_sum, padded.aux_loss_sum)
    stats = [update_expert_biases([m]) for m in (plain, padded)]
    torch.testing.assert_close(plain.router.expert_bias, padded.router.expert_bias)
    assert stats[0]["load_imbalance"] == stats[1]["load_imbalance"]
    assert abs(stats[0]["seq_balance_loss"] - stats[1]["seq_balance_loss"]) < 1e-7


def test_unmasked_padding_would_count():
    x = torch.randn(2, 16, D)
    moe = make_moe()
    moe(x)
    assert moe.router.tokens_per_expert.sum() == 2 * 16 * 2


def test_model_loss_and_router_load_ignore_padding():
    cfg = load_config("tiny", {"model.vocab_size": 64, "model.moe.seq_balance_coef": 0.01}).model
    torch.manual_seed(0)
    plain, padded = cfg.build(), cfg.build()
    padded.load_state_dict(plain.state_dict())
    tokens = torch.randint(1, 64, (2, 13))
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    pad_inputs = torch.zeros(2, 24, dtype=torch.long)  # id 0: the pad id is also EOS
    pad_labels = torch.full((2, 24), IGNORE_INDEX)
    pad_inputs[:, :12], pad_labels[:, :12] = inputs, labels
    mask = pad_labels != IGNORE_INDEX
    loss = plain(inputs, labels)
    pad_loss = padded(pad_inputs, pad_labels, mask)
    torch.testing.assert_close(loss, pad_loss)
    loss.backward()
    pad_loss.backward()
    for a, b in zip(plain.moe_layers(), padded.moe_layers(), strict=True):
        assert torch.equal(a.router.tokens_per_expert, b.router.tokens_per_expert)
        torch.testing.assert_close(a.router.gate.weight.grad, b.router.gate.weight.grad)
