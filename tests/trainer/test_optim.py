import pytest
import torch

from trainer.model import ModelConfig
from trainer.optim import OptimConfig, WSDSchedule, build_optimizer, wsd_factor


def test_wsd_warms_up_holds_then_decays_to_the_floor():
    cfg = OptimConfig(lr=1.0, warmup_steps=4, decay_fraction=0.2, min_lr_ratio=0.1)
    f = [wsd_factor(s, 20, cfg) for s in range(20)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert set(f[4:16]) == {1.0}
    assert f[16:] == pytest.approx([0.775, 0.55, 0.325, 0.1])


def test_optimizer_defaults_and_no_decay_on_norms():
    model = ModelConfig(vocab_size=512).build()
    opt = build_optimizer(model, OptimConfig())
    decay, no_decay = opt.param_groups
    assert opt.defaults["betas"] == (0.9, 0.95)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 1 for p in no_decay["params"]) and len(no_decay["params"]) > 0


def test_schedule_state_round_trips():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    cfg = OptimConfig(lr=1.0, warmup_steps=10)
    a = WSDSchedule(opt, cfg, 100)
    for _ in range(3):
        a.step()
    b = WSDSchedule(opt, cfg, 100)
    b.load_state_dict(a.state_dict())
    assert b.lr == a.lr == 0.4
