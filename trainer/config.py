"""A training run's configuration: one TOML file, one table per component, parsed strictly into the dataclasses
that live next to each component (an unknown key or a wrong type is an error naming the key and the file).

    [model] [model.moe]   trainer/model.py, trainer/moe.py
    [data]                trainer/data.py
    [optim]               trainer/optim.py (AdamW + warmup-stable-decay)
    [train]               this file
    [save]                trainer/state.py (saved training state)
    [parallel]            trainer/parallel_dims.py (dp_shard x ep ranks, data streams)
    [checkpointing]       activation checkpointing (trainer/recompute/ plans it)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.config import ConfigError, from_dict, to_dict
from trainer.data import DataConfig
from trainer.model import ModelConfig
from trainer.optim import OptimConfig
from trainer.parallel_dims import ParallelConfig
from trainer.state import SaveConfig

CONFIG_DIR = Path(__file__).parent / "configs"

__all__ = ["ConfigError", "JobConfig", "TrainConfig", "RecomputeConfig", "load_config", "to_dict"]


@dataclass(kw_only=True, slots=True)
class TrainConfig:
    steps: int = 1000
    seed: int = 0
    log_every: int = 10  # progress line every N steps (metrics.jsonl gets every step)
    device: str = "auto"  # auto: cuda when available, else cpu
    bf16: bool = True  # bf16 autocast on CUDA (CPU always trains in fp32)
    compile: bool = False  # torch.compile each block separately (the recompute plan stays outside)
    peak_flops: float = 0.0  # per-device peak for MFU; 0: looked up from the device name

    def __post_init__(self) -> None:
        if self.steps < 1 or self.log_every < 1:
            raise ValueError("train.steps and train.log_every must be >= 1")


@dataclass(kw_only=True, slots=True)
class RecomputeConfig:
    """Activation checkpointing. `none` and `full` are fixed plans; `static` (one plan for the largest shape) and
    `mimose` (a plan per input shape) are planned by trainer/recompute/ under `budget`."""

    mode: Literal["none", "full", "static", "mimose"] = "none"
    # bytes when > 1, a fraction of device memory when in (0, 1]; 0: 0.9 of device memory on CUDA, no limit on CPU
    budget: float = 0.0
    # what the budget counts. device: the allocator's peak (params, grads, optimizer state and activations);
    # activations: the bytes of tensors saved for backward only. auto: device on CUDA, activations on CPU
    budget_scope: Literal["auto", "device", "activations"] = "auto"
    margin: float = 0.05  # fraction of the budget kept free for what the predictor misses
    collect_steps: int = 4  # measured steps (under full recompute) before the first plan
    collect_max_steps: int = 16  # stop collecting after this many even if fewer distinct shapes were seen
    poly_degree: int = 2  # memory/time laws: 1 -> a + b*tokens; 2 -> + c*tokens*seq (attention)
    range_slack: float = 0.1  # a shape this far beyond the measured range is measured again, not extrapolated
    seq_bucket: int = 16  # plans are cached per (batch, seq) rounded up to these multiples
    batch_bucket: int = 1
    exact_max_blocks: int = 16  # exhaustive plan search up to this many blocks, greedy by bytes/second beyond
    verify_every: int = 0  # also measure saved bytes every N planned steps (prediction error on CPU); 0: never

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError("checkpointing.budget must be >= 0")
        if not 0 <= self.margin < 1 or self.range_slack < 0:
            raise ValueError("checkpointing.margin must be in [0, 1) and range_slack >= 0")
        if self.collect_steps < 1 or self.collect_max_steps < self.collect_steps:
            raise ValueError("checkpointing.collect_steps must be >= 1 and <= collect_max_steps")
        if self.poly_degree not in (1, 2, 3):
            raise ValueError(f"checkpointing.poly_degree must be 1, 2 or 3, got {self.poly_degree}")
        if min(self.seq_bucket, self.batch_bucket, self.exact_max_blocks) < 1 or self.verify_every < 0:
            raise ValueError("checkpointing.seq_bucket, batch_bucket, exact_max_blocks must be >= 1, "
                             "verify_every >= 0")


@dataclass(kw_only=True, slots=True)
class JobConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    save: SaveConfig = field(default_factory=SaveConfig)
    checkpointing: RecomputeConfig = field(default_factory=RecomputeConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    def __post_init__(self) -> None:
        if self.data.max_seq_len > self.model.max_seq_len:
            raise ValueError(f"data.max_seq_len={self.data.max_seq_len} exceeds "
                             f"model.max_seq_len={self.model.max_seq_len}")
        if self.model.moe.n_routed_experts % self.parallel.ep:
            raise ValueError(f"parallel.ep={self.parallel.ep} does not divide "
                             f"model.moe.n_routed_experts={self.model.moe.n_routed_experts}")

    @property
    def seq_len(self) -> int:
        return self.data.max_seq_len or self.model.max_seq_len


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_config_path(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of one in trainer/configs/ (`tiny`, `small`, `dots_llm1`)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    named = CONFIG_DIR / f"{name_or_path}.toml"
    if not named.is_file():
        raise ConfigError(f"no config named '{name_or_path}' (available: {', '.join(available_configs())}; "
                          "or give a path to a .toml file)")
    return named


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for p in parents:
        data = data.setdefault(p, {})
        if not isinstance(data, dict):
            raise ConfigError(f"--set {key}: '{p}' is not a table")
    data[last] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`train.steps=10` -> ("train.steps", 10); the value is TOML (strings may be bare)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def load_config(name_or_path: str, overrides: dict[str, Any] | None = None) -> JobConfig:
    path = resolve_config_path(name_or_path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    for key, value in (overrides or {}).items():
        _set_dotted(data, key, value)
    try:
        return from_dict(JobConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
