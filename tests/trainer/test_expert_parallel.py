"""Expert parallelism on 4 CPU processes (gloo): EP 2 and EP 4 give what EP 1 gives, for one MoE layer (output and
gradients, also when some ranks receive no tokens) and for a few training steps of `tiny`. One process group for
the whole file; the pure index arithmetic is tested in-process."""

import copy
import json

import pytest
import torch

from tests.trainer.multiprocess import run_on_ranks
from trainer.expert_parallel import expert_major_order

WORLD = 4
D = 32


def test_expert_major_order_groups_rows_by_expert_then_source():
    recv_SL = torch.tensor([[2, 0, 1], [1, 3, 0]])  # source 0 sends 2, 0, 1 rows; source 1 sends 1, 3, 0
    # received rows (source-major): s0e0 s0e0 s0e2 | s1e0 s1e1 s1e1 s1e1
    idx = expert_major_order(recv_SL)
    assert idx.tolist() == [0, 1, 3, 4, 5, 6, 2]
    assert expert_major_order(torch.zeros(2, 3, dtype=torch.long)).numel() == 0


def make_moe(seed: int = 0):
    from trainer.model import FeedForward
    from trainer.moe import MoE, MoEConfig

    torch.manual_seed(seed)
    moe = MoE(D, MoEConfig(n_routed_experts=8, top_k=2, expert_ffn_dim=16, seq_balance_coef=0.01),
              FeedForward(D, 16))
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return moe.train()


def _layer_parity(rank: int, world: int, out_dir: str) -> None:
    """Per EP degree and routing (natural / skewed onto experts 0-1): max differences against EP 1."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    from trainer.expert_parallel import apply_expert_parallel

    report = {}
    for ep in (2, 4):
        mesh = init_device_mesh("cpu", (world // ep, ep), mesh_dim_names=("dp_shard", "ep"))
        ep_rank, L = rank % ep, 8 // ep
        for skew in (False, True):
            ref = make_moe()
            if skew:  # every slot goes to experts 0 and 1: the other ranks of the group receive nothing
                ref.router.expert_bias[:2] = 10.0
            par = copy.deepcopy(ref)
            apply_expert_parallel([par], mesh["ep"])
            torch.manual_seed(100 + rank)
            x = torch.randn(2, 5 + 3 * rank, D)  # a different token count on every rank
            x_ref, x_par = x.clone().requires_grad_(), x.clone().requires_grad_()
            out_ref, out_par = ref(x_ref), par(x_par)
            g = torch.randn_like(out_ref)
            out_ref.backward(g)
            out_par.backward(g)
            diffs = {"out": (out_par - out_ref).abs().max(), "x_grad": (x_par.grad - x_ref.grad).abs().max(),
                     "gate_grad": (par.router.gate.weight.grad - ref.router.gate.weight.grad).abs().max()}
            for name in ("w1", "w2", "w3"):
                # the owner's gradient is the mean of the contributions of every rank of its EP group
                full = getattr(ref.experts, name).grad.clone()
                dist.all_reduce(full, group=mesh["ep"].get_group())
                full /= ep
                local = getattr(par.experts, name).grad.to_local()
                diffs[f"{name}_grad"] = (local - full[ep_rank * L:(ep_rank + 1) * L]).abs().max()
                assert getattr(par.experts, name).to_local().shape[0] == L
            report[f"ep{ep}_{'skew' if skew else 'natural'}"] = {k: float(v.detach()) for k, v in diffs.items()}
    if rank == 0:
        with open(f"{out_dir}/layer.json", "w") as f:
            json.dump(report, f)


def _training(rank: int, world: int, shard_dir: str, out_dir: str) -> None:
    from trainer.config import load_config
    from trainer.loop import train

    for name, extra in (("ep1", {}), ("ep2", {"parallel.ep": 2}), ("ep4", {"parallel.ep": 4}),
                        ("ep2-meta", {"parallel.ep": 2, "parallel.meta_init": True})):
        cfg = load_config("tiny", {"train.steps": 3, "train.log_every": 100, "save.every": 0, "save.at_end": False,
                                   **extra})
        history = train(cfg, shard_dir, f"{out_dir}/{name}")
        if rank == 0:
            with open(f"{out_dir}/train-{name}.json", "w") as f:
                json.dump([{k: m[k] for k in ("loss", "grad_norm", "load_imbalance")} for m in history], f)


def _body(rank: int, world: int, shard_dir: str, out_dir: str) -> None:
    _layer_parity(rank, world, out_dir)
    _training(rank, world, shard_dir, out_dir)


@pytest.fixture(scope="module")
def results(shard_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ep")
    run_on_ranks(WORLD, _body, str(shard_dir), str(out))
    return out


@pytest.mark.parametrize("case", ["ep2_natural", "ep2_skew", "ep4_natural", "ep4_skew"])
def test_one_moe_layer_matches_ep1(results, case):
    diffs = json.loads((results / "layer.json").read_text())[case]
    assert max(diffs.values()) < 1e-5, diffs


@pytest.mark.parametrize("ep", [2, 4])
def test_training_steps_match_ep1(results, ep):
    ref = json.loads((results / "train-ep1.json").read_text())
    got = json.loads((results / f"train-ep{ep}.json").read_text())
    assert [m["loss"] for m in got] == pytest.approx([m["loss"] for m in ref], rel=1e-5)
    assert [m["grad_norm"] for m in got] == pytest.approx([m["grad_norm"] for m in ref], rel=1e-4)
    assert [m["load_imbalance"] for m in got] == pytest.approx([m["load_imbalance"] for m in ref], rel=1e-6)


def test_meta_init_draws_shards_in_place_and_trains(results):
    """No rank builds the whole model: other initial values than the seed's single-device ones, same scale."""
    ref = json.loads((results / "train-ep1.json").read_text())
    got = json.loads((results / "train-ep2-meta.json").read_text())
    assert got[0]["loss"] != ref[0]["loss"]
    assert got[0]["loss"] == pytest.approx(ref[0]["loss"], rel=0.02)  # ln(vocab) from a small-std init either way
    assert all(m["loss"] == m["loss"] for m in got) and got[-1]["loss"] < got[0]["loss"]
