import pytest
import torch
import torch.nn.functional as F

from trainer.grouped_mm import grouped_mm, pad_groups
from trainer.model import FeedForward
from trainer.moe import (
    OVERLOAD_WARN_STEPS,
    MoE,
    MoEConfig,
    Router,
    SortedDispatch,
    update_expert_biases,
)

D = 32


def make_moe(impl: str, seed: int = 0, **kw) -> MoE:
    torch.manual_seed(seed)
    cfg = MoEConfig(n_routed_experts=8, top_k=2, expert_ffn_dim=16, experts_impl=impl, **kw)
    moe = MoE(D, cfg, FeedForward(D, 16))
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return moe


def naive_moe(moe: MoE, x_BSD: torch.Tensor) -> torch.Tensor:
    """Token by token, expert by expert: the definition the fast paths must reproduce."""
    x_TD = x_BSD.reshape(-1, D)
    weights_TK, ids_TK, _ = moe.router(x_TD)
    ex = moe.experts
    rows = []
    for t in range(x_TD.shape[0]):
        acc = moe.shared_experts(x_TD[t])
        for k in range(ids_TK.shape[1]):
            e = ids_TK[t, k]
            h = F.silu(ex.w1[e] @ x_TD[t]) * (ex.w3[e] @ x_TD[t])
            acc = acc + weights_TK[t, k] * (ex.w2[e] @ h)
        rows.append(acc)
    return torch.stack(rows).view_as(x_BSD)


def test_grouped_equals_loop_and_naive_forward_and_backward():
    grouped, loop = make_moe("grouped"), make_moe("loop")
    x = torch.randn(2, 24, D)
    xg, xl = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_g, out_l = grouped(xg), loop(xl)
    torch.testing.assert_close(out_g, out_l, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_g, naive_moe(loop, x), rtol=1e-5, atol=1e-5)
    g = torch.randn_like(out_g)
    out_g.backward(g)
    out_l.backward(g)
    torch.testing.assert_close(xg.grad, xl.grad, rtol=1e-5, atol=1e-5)
    for (name, pg), (_, pl) in zip(grouped.named_parameters(), loop.named_parameters(), strict=True):
        torch.testing.assert_close(pg.grad, pl.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_grouped_handles_experts_without_tokens():
    moe = make_moe("grouped")
    moe.router.expert_bias[:] = torch.tensor([10.0, 10.0] + [0.0] * 6)  # everything goes to experts 0 and 1
    x = torch.randn(1, 8, D, requires_grad=True)
    out = moe(x)
    ref = make_moe("loop")
    ref.router.expert_bias.copy_(moe.router.expert_bias)
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-5)
    out.sum().backward()  # the stride-0 gradient of sum() must not reach grouped_mm
    assert torch.all(moe.experts.w1.grad[2:] == 0)


def test_padded_groups_give_the_same_product():
    """The CUDA path pads each expert's rows to a multiple of 16; padding must not change results."""
    counts_E = torch.tensor([3, 0, 17, 1])
    x_ND = torch.randn(int(counts_E.sum()), 8)
    w_EFD = torch.randn(4, 5, 8)
    plain = grouped_mm(x_ND, w_EFD, torch.cumsum(counts_E, 0, dtype=torch.int32))
    x_pad, padded_E, keep_N = pad_groups(x_ND, counts_E, 16)
    assert padded_E.tolist() == [16, 0, 32, 16]
    padded = grouped_mm(x_pad, w_EFD, torch.cumsum(padded_E, 0, dtype=torch.int32))[keep_N]
    torch.testing.assert_close(padded, plain)


def test_dispatch_combine_roundtrip_is_identity_with_unit_weights():
    x_TD = torch.randn(10, 4)
    ids_TK = torch.randint(0, 3, (10, 2))
    x_ND, counts_E, order_N = SortedDispatch.dispatch(x_TD, ids_TK, 3)
    assert counts_E.sum() == 20 and torch.all(torch.diff(ids_TK.flatten()[order_N]) >= 0)
    out = SortedDispatch.combine(x_ND, torch.full((10, 2), 0.5), order_N)
    torch.testing.assert_close(out, x_TD)


def skewed_router(speed: float, update: str = "quantile") -> tuple[Router, torch.Tensor]:
    torch.manual_seed(0)
    router = Router(D, MoEConfig(n_routed_experts=8, top_k=2, bias_update=update, bias_update_speed=speed))
    with torch.no_grad():
        router.gate.weight.normal_(std=D**-0.5)
        router.gate.weight[:2] += 0.15  # with inputs of positive mean, experts 0 and 1 win most tokens
    return router, torch.randn(1024, D) + 0.5


def imbalance(router: Router, x: torch.Tensor) -> float:
    _, ids, _ = router(x)
    load = torch.bincount(ids.flatten(), minlength=8).float()
    return float(load.max() / load.mean())


def balance(router: Router, x: torch.Tensor, steps: int) -> list[float]:
    """`steps` bias updates, each from the load of one forward over fresh tokens of the same distribution."""
    router.train()
    g = torch.Generator().manual_seed(1)
    seen = []
    for _ in range(steps):
        router(x + 0.3 * torch.randn(x.shape, generator=g))
        load = router.tokens_per_expert.clone()
        seen.append(float(load.max() / load.mean()))
        router.update_bias(load)
    return seen


RECOVERY_STEPS = 10


def test_a_skewed_router_recovers_within_a_fixed_number_of_steps():
    router, x = skewed_router(speed=MoEConfig().bias_update_speed)
    before = imbalance(router, x)
    assert before > 2.5, before
    seen = balance(router, x, RECOVERY_STEPS)
    assert seen[-1] <= 1.3 and imbalance(router, x) <= 1.3, seen
    # the bias picks experts but does not weigh them: the weights still come from the unbiased scores
    w, ids, scores = router(x)
    torch.testing.assert_close(w, scores.gather(-1, ids) / scores.gather(-1, ids).sum(-1, keepdim=True))


def test_deepseek_sign_step_is_kept_and_is_slower():
    router, x = skewed_router(speed=0.001, update="sign")
    assert balance(router, x, RECOVERY_STEPS)[-1] > 2.0  # 0.001 per step cannot close a 0.1 score gap in 10
    router, x = skewed_router(speed=0.02, update="sign")
    assert balance(router, x, 60)[-1] <= 1.3


def test_balance_step_admits_each_expert_its_share():
    from trainer.moe import balance_step

    g = torch.Generator().manual_seed(0)
    scores = torch.rand(400, 8, generator=g) + torch.linspace(0, 0.5, 8)  # later experts favoured
    bias = torch.zeros(8)
    for _ in range(30):
        ids = (scores + bias).topk(2, dim=-1).indices
        step = balance_step(scores + bias, ids)
        bias += 0.5 * (step - step.mean())
    load = torch.bincount((scores + bias).topk(2, dim=-1).indices.flatten(), minlength=8).float()
    assert float(load.max() / load.mean()) <= 1.05


def test_zero_speed_leaves_the_bias_alone_and_a_lasting_overload_warns():
    router, x = skewed_router(speed=0.0)
    router.train()
    router(x)
    router.update_bias(router.tokens_per_expert.clone())
    assert torch.all(router.expert_bias == 0) and torch.all(router.tokens_per_expert == 0)
    moe = make_moe("grouped", bias_update_speed=0.0)
    moe.router.expert_bias[:2] = 10.0  # everything goes to experts 0 and 1: 4x uniform
    moe.train()
    with pytest.warns(UserWarning, match=r"MoE layer -1: its busiest expert has taken more than twice the uniform "
                                         r"load for 50 steps"):
        for _ in range(OVERLOAD_WARN_STEPS):
            moe(torch.randn(1, 8, D))
            stats = update_expert_biases([moe])
    assert stats["layer_load_imbalance"] == [4.0]


def test_debug_force_load_balance_gives_equal_loads():
    router, x = skewed_router(speed=0.0)
    router._debug_force_load_balance = True
    assert imbalance(router, x) == 1.0


def test_load_counted_once_per_step_even_when_recomputed():
    from torch.utils.checkpoint import checkpoint

    moe = make_moe("grouped", seq_balance_coef=0.01)
    moe.train()
    x = torch.randn(2, 16, D, requires_grad=True)
    moe(x).sum().backward()
    plain_counts, plain_grad = moe.router.tokens_per_expert.clone(), moe.router.gate.weight.grad.clone()
    moe.router.tokens_per_expert.zero_()
    moe.zero_grad()
    checkpoint(moe, x, use_reentrant=False).sum().backward()
    assert torch.equal(moe.router.tokens_per_expert, plain_counts)
    assert plain_counts.sum() == 2 * 16 * 2
    torch.testing.assert_close(moe.router.gate.weight.grad, plain_grad)


def test_sequence_balance_loss_reaches_the_gate():
    x = torch.randn(2, 16, D)
    grads = {}
    for coef in (0.0, 0.1):
        moe = make_moe("grouped", seq_balance_coef=coef)
        moe.train()
        moe(x).sum().backward()
        grads[coef] = moe.router.gate.weight.grad.clone()
        if coef:
            assert moe.aux_loss_sum > 0
    # sigmoid routing weights are normalised, so only the balance loss sends gradient through raw scores
    assert not torch.allclose(grads[0.0], grads[0.1])


def test_each_bias_rule_has_its_own_default_speed():
    assert MoEConfig(bias_update="sign").bias_update_speed == 0.001  # DeepSeek-V3's
    assert MoEConfig().bias_update_speed == 0.5
    assert MoEConfig(bias_update="sign", bias_update_speed=0.01).bias_update_speed == 0.01


def test_update_expert_biases_reports_imbalance():
    moe = make_moe("grouped")
    moe.train()
    moe(torch.randn(2, 16, D))
    stats = update_expert_biases([moe])
    assert stats["load_imbalance"] >= 1.0 and stats["load_imbalance_max"] >= stats["load_imbalance"]
    assert torch.all(moe.router.tokens_per_expert == 0)
    assert update_expert_biases([]) == {}


def test_bad_moe_config_is_rejected():
    with pytest.raises(ValueError, match="top_k"):
        MoEConfig(n_routed_experts=4, top_k=5)


def test_the_cuda_flavour_of_the_grouped_path_agrees_in_bf16():
    """What runs on CUDA (bf16 operands, groups padded to 16 rows), exercised on the CPU."""
    moe = make_moe("grouped")
    x_TD = torch.randn(40, D)
    _, ids_TK, _ = moe.router(x_TD)
    x_ND, counts_E, _ = SortedDispatch.dispatch(x_TD, ids_TK, 8)
    x_ND.requires_grad_()
    cuda_like = moe.experts._forward_grouped(x_ND, counts_E, torch.bfloat16, 16)
    reference = moe.experts._forward_loop(x_ND, counts_E)
    assert cuda_like.dtype == torch.float32
    torch.testing.assert_close(cuda_like, reference, rtol=0.05, atol=0.05)
    cuda_like.sum().backward()
    assert moe.experts.w2.grad is not None and x_ND.grad.shape == x_ND.shape
