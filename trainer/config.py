"""A training run's configuration: one TOML file, one table per component, parsed strictly into the dataclasses
that live next to each component (an unknown key or a wrong type is an error naming the key and the file).

    [model] [model.moe]   trainer/model.py, trainer/moe.py
    [data]                trainer/data.py
    [optim]               trainer/optim.py (AdamW + warmup-stable-decay)
    [train]               this file
    [save]                trainer/state.py (saved training state)
    [checkpointing]       activation checkpointing (trainer/checkpointing.py plans it)
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
    """Activation checkpointing. `none` and `full` are fixed plans; `static` and `mimose` are planned by
    trainer/checkpointing.py under `budget` (bytes when > 1, else a fraction of device memory)."""

    mode: Literal["none", "full", "static", "mimose"] = "none"
    budget: float = 0.0

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError("checkpointing.budget must be >= 0")


@dataclass(kw_only=True, slots=True)
class JobConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    save: SaveConfig = field(default_factory=SaveConfig)
    checkpointing: RecomputeConfig = field(default_factory=RecomputeConfig)

    def __post_init__(self) -> None:
        if self.data.max_seq_len > self.model.max_seq_len:
            raise ValueError(f"data.max_seq_len={self.data.max_seq_len} exceeds "
                             f"model.max_seq_len={self.model.max_seq_len}")

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
