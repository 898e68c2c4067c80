"""AdamW with the dots.llm1 defaults and the warmup-stable-decay learning-rate schedule."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(kw_only=True, slots=True)
class OptimConfig:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping
    warmup_steps: int = 100
    decay_fraction: float = 0.1  # the last fraction of the run decays the learning rate
    min_lr_ratio: float = 0.1  # learning rate at the end of decay, relative to lr

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.warmup_steps < 0:
            raise ValueError("optim.lr must be > 0; weight_decay, grad_clip and warmup_steps >= 0")
        if not 0 <= self.decay_fraction <= 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("optim.decay_fraction and optim.min_lr_ratio must be in [0, 1]")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2:
            raise ValueError(f"optim.betas needs two values, got {list(self.betas)}")


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """Matrices (and embeddings) decay; norm gains do not (decaying them pulls activations toward zero)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_cuda = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=on_cuda or None)


def wsd_factor(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Learning-rate multiplier for optimizer step `step` (0-based): linear warmup, constant, linear decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    decay_steps = round(total_steps * cfg.decay_fraction)
    decay_start = total_steps - decay_steps
    if decay_steps == 0 or step < decay_start:
        return 1.0
    progress = min(1.0, (step - decay_start + 1) / decay_steps)
    return 1.0 - (1.0 - cfg.min_lr_ratio) * progress


class WSDSchedule:
    """Sets every param group's lr before each step; its state is one integer, so it saves as plain data."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
        self.optimizer, self.cfg, self.total_steps = optimizer, cfg, total_steps
        self.step_count = 0
        self._apply()

    def _apply(self) -> None:
        lr = self.cfg.lr * wsd_factor(self.step_count, self.total_steps, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict:
        return {"step_count": self.step_count}

    def load_state_dict(self, sd: dict) -> None:
        self.step_count = int(sd["step_count"])
        self._apply()
