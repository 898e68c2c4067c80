"""A training run's configuration: one TOML file, one table per component, parsed strictly into the dataclasses
that live next to each component (an unknown key or a wrong type is an error naming the key and the file).

    [model] [model.moe]   trainer/model.py, trainer/moe.py
    [data]                trainer/data.py
    [optim]               trainer/optim.py (AdamW + warmup-stable-decay)
    [train]               this file
    [save]                trainer/state.py (saved training state)
    [parallel]            trainer/parallel_dims.py (dp_shard x ep ranks, data streams)
    [recompute]           activation recompute (trainer/recompute/ plans it; `[checkpointing]`, its old name,
                          is still read, with a warning)
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.config import ConfigError, Range, from_dict, to_dict
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
    # a step with a non-finite loss or gradient norm is skipped (no update); this many in a row stop the run
    max_nonfinite_steps: int = 3

    def __post_init__(self) -> None:
        if self.steps < 1 or self.log_every < 1:
            raise ValueError("train.steps and train.log_every must be >= 1")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps|xpu(:\d+)?", self.device):
            raise ValueError(f"train.device={self.device!r}: one of auto, cpu, cuda, cuda:N, mps, xpu")


@dataclass(kw_only=True, slots=True)
class RecomputeConfig:
    """Activation recompute (activation checkpointing). `none` and `full` are fixed plans; `static` (one plan for
    the largest shape) and `mimose` (a plan per input shape) are planned by trainer/recompute/ under `budget`."""

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
            raise ValueError("recompute.budget must be >= 0")
        if not 0 <= self.margin < 1 or self.range_slack < 0:
            raise ValueError("recompute.margin must be in [0, 1) and range_slack >= 0")
        if self.collect_steps < 1 or self.collect_max_steps < self.collect_steps:
            raise ValueError("recompute.collect_steps must be >= 1 and <= collect_max_steps")
        if self.poly_degree not in (1, 2, 3):
            raise ValueError(f"recompute.poly_degree must be 1, 2 or 3, got {self.poly_degree}")
        if min(self.seq_bucket, self.batch_bucket, self.exact_max_blocks) < 1 or self.verify_every < 0:
            raise ValueError("recompute.seq_bucket, batch_bucket, exact_max_blocks must be >= 1, "
                             "verify_every >= 0")


@dataclass(kw_only=True, slots=True)
class JobConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    save: SaveConfig = field(default_factory=SaveConfig)
    recompute: RecomputeConfig = field(default_factory=RecomputeConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)

    def __post_init__(self) -> None:
        check_ranges(lambda key: _field_at(self, key), "")
        if self.model.vocab_size > 0 and self.model.eos_id >= self.model.vocab_size:
            raise ValueError(f"model.eos_id={self.model.eos_id} is outside the vocabulary "
                             f"(model.vocab_size={self.model.vocab_size})")
        if self.data.max_seq_len > self.model.max_seq_len:
            raise ValueError(f"data.max_seq_len={self.data.max_seq_len} exceeds "
                             f"model.max_seq_len={self.model.max_seq_len}")
        if self.model.moe.n_routed_experts % self.parallel.ep:
            raise ValueError(f"parallel.ep={self.parallel.ep} does not divide "
                             f"model.moe.n_routed_experts={self.model.moe.n_routed_experts}")

    @property
    def seq_len(self) -> int:
        return self.data.max_seq_len or self.model.max_seq_len


# --- ranges: every number of every table, checked before any table is built --------------------------------------
#
# Checked on the raw TOML (after --set) so a value that would crash a table's own checks (n_heads=0 divides)
# is refused first, and again on the built JobConfig (configs made in Python). Every float must also be finite.

AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, open_lo=True)
FRACTION, FRACTION_BELOW_1 = Range(0, 1), Range(0, 1, open_hi=True)
SEED = Range(0, 2**32 - 1)  # what numpy and torch take
LAYERS = Range(1, 10_000)  # one module each, even on the meta device (--count-params): 1e9 would never finish

RANGES: dict[str, Range] = {
    "model.vocab_size": AT_LEAST_0, "model.eos_id": Range(-1), "model.dim": AT_LEAST_1, "model.n_layers": LAYERS,
    "model.n_heads": AT_LEAST_1, "model.n_kv_heads": AT_LEAST_0, "model.head_dim": AT_LEAST_0,
    "model.ffn_dim": AT_LEAST_1, "model.n_dense_layers": Range(0, LAYERS.hi), "model.norm_eps": POSITIVE,
    "model.rope_theta": POSITIVE, "model.max_seq_len": AT_LEAST_1, "model.init_std": POSITIVE,
    "model.moe.n_routed_experts": AT_LEAST_1, "model.moe.n_shared_experts": AT_LEAST_0, "model.moe.top_k": AT_LEAST_1,
    "model.moe.expert_ffn_dim": AT_LEAST_1, "model.moe.route_scale": POSITIVE,
    "model.moe.bias_update_speed": AT_LEAST_0, "model.moe.seq_balance_coef": AT_LEAST_0,
    "model.moe.cuda_group_align": AT_LEAST_1,
    "data.tokens_per_batch": AT_LEAST_1, "data.max_seq_len": AT_LEAST_0, "data.shuffle_buffer": AT_LEAST_1,
    "data.seed": SEED, "data.num_workers": AT_LEAST_0, "data.bucket_lengths": AT_LEAST_1,
    "optim.lr": POSITIVE, "optim.betas": FRACTION_BELOW_1, "optim.eps": POSITIVE, "optim.weight_decay": AT_LEAST_0,
    "optim.grad_clip": AT_LEAST_0, "optim.warmup_steps": AT_LEAST_0, "optim.decay_fraction": FRACTION,
    "optim.min_lr_ratio": FRACTION,
    "train.steps": AT_LEAST_1, "train.seed": SEED, "train.log_every": AT_LEAST_1, "train.peak_flops": AT_LEAST_0,
    "train.max_nonfinite_steps": AT_LEAST_1,
    "save.every": AT_LEAST_0, "save.keep_latest": AT_LEAST_0,
    "recompute.budget": AT_LEAST_0, "recompute.margin": FRACTION_BELOW_1,
    "recompute.collect_steps": AT_LEAST_1, "recompute.collect_max_steps": AT_LEAST_1,
    "recompute.poly_degree": Range(1, 3), "recompute.range_slack": AT_LEAST_0,
    "recompute.seq_bucket": AT_LEAST_1, "recompute.batch_bucket": AT_LEAST_1,
    "recompute.exact_max_blocks": AT_LEAST_1, "recompute.verify_every": AT_LEAST_0,
    "parallel.dp_shard": AT_LEAST_0, "parallel.ep": AT_LEAST_1, "parallel.data_streams": AT_LEAST_0,
}

_MISSING = object()


def _field_at(obj: Any, key: str) -> Any:
    for part in key.split("."):
        obj = getattr(obj, part, _MISSING) if dataclasses.is_dataclass(obj) else _MISSING
    return obj


def _item_at(data: Any, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part, _MISSING) if isinstance(data, dict) else _MISSING
    return data


def check_ranges(get, source: str) -> None:
    """ConfigError naming the first key whose number (or any number in its list) is out of range or not finite.
    `get(key)` returns the key's value, or _MISSING; values of the wrong type are left to the type check."""
    for key, allowed in RANGES.items():
        value = get(key)
        for x in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                continue
            if not math.isfinite(x) or x not in allowed:
                shown = list(value) if isinstance(value, (list, tuple)) else x
                finite = "a finite number " if isinstance(x, float) else ""
                within = "in " if allowed.lo is not None and allowed.hi is not None else ""
                raise ConfigError(f"{source}{key}={shown}: must be {finite}{within}{allowed}")


RENAMED_TABLES = {"checkpointing": "recompute"}  # old name -> new name, still read


def _renamed_tables(data: dict, prefix: str) -> dict:
    """Moves a table given under its old name to its new one, with a warning; a key set under both is an error."""
    for old, new in RENAMED_TABLES.items():
        if old not in data:
            continue
        data = dict(data)
        moved, current = data.pop(old), data.get(new, {})
        if not isinstance(moved, dict) or not isinstance(current, dict):
            raise ConfigError(f"{prefix}[{old}] and [{new}] must be tables")
        both = sorted(set(moved) & set(current))
        if both:
            raise ConfigError(f"{prefix}{new}.{both[0]} is set under both [{old}] (its old name) and [{new}]")
        data[new] = {**current, **moved}
        warnings.warn(f"{prefix}[{old}] is now called [{new}] (activation recompute; [save] is the saved training "
                      f"state): rename the table or the --set keys", FutureWarning, stacklevel=3)
    return data


def job_config_from_dict(data: dict, source: str = "") -> JobConfig:
    """The JobConfig of a parsed TOML (or a run's config.json), ranges checked before any table is built;
    ConfigError naming `source` and the key."""
    prefix = f"{source}: " if source else ""
    data = _renamed_tables(data, prefix)
    check_ranges(lambda key: _item_at(data, key), prefix)
    try:
        return from_dict(JobConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e}") from None


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
    return job_config_from_dict(data, str(path))
