"""What the recompute tests share: the tiny model, a batch, and one step as trainer/loop.py runs it."""

import torch

from trainer.config import load_config


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return load_config("tiny", {"model.vocab_size": 512}).model.build()


def batch(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 512, shape, generator=g), torch.randint(0, 512, shape, generator=g)


def policy_step(model, policy, shape, seed=0) -> dict:
    """What trainer/loop.py does around one step, without the optimizer."""
    x, y = batch(shape, seed)
    model.set_recompute_plan(policy.plan(shape))
    model(x, y).backward()
    model.zero_grad(set_to_none=True)
    metrics = {"step_time_s": 0.01}
    policy.after_step(metrics)
    return metrics

