"""When to save and what to keep of the training state (not activation checkpointing: that is trainer/recompute/).

Pure functions and the `[save]` table; the sharded save and load themselves are trainer/checkpoint.py. The RNG
state is kept as JSON-able data so no saved file ever needs unpickling.
"""

from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass
from typing import Any

import torch

_NAME = re.compile(r"^step-(\d{8})$")


@dataclass(kw_only=True, slots=True)
class SaveConfig:
    every: int = 500  # save every N steps; 0: never before the last step
    at_end: bool = True  # also save after the last step
    keep_latest: int = 3  # older saved states are deleted; 0 keeps all

    def __post_init__(self) -> None:
        if self.every < 0 or self.keep_latest < 0:
            raise ValueError("save.every and save.keep_latest must be >= 0")


def state_name(step: int) -> str:
    return f"step-{step:08d}"


def step_of(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def should_save(step: int, last_step: int, every: int, at_end: bool = True) -> bool:
    return (at_end and step == last_step) or (every > 0 and step % every == 0)


def to_purge(existing_steps: list[int], keep_latest: int) -> list[int]:
    """Steps whose saved state can go: all but the newest `keep_latest` (none when keep_latest is 0)."""
    if keep_latest <= 0:
        return []
    return sorted(existing_steps)[:-keep_latest]


def newest(names: list[str]) -> str | None:
    """The name of the newest step among complete saved states (names that are not states are ignored)."""
    steps = [(s, n) for n in names if (s := step_of(n)) is not None]
    return max(steps)[1] if steps else None


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.numpy().tobytes()).decode()


def _tensor(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state() -> dict[str, Any]:
    """This process's RNG states as JSON-able data."""
    version, internal, gauss = random.getstate()
    return {"torch": _b64(torch.get_rng_state()), "python": [version, list(internal), gauss],
            "cuda": [_b64(s) for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []}


def set_rng_state(sd: dict[str, Any]) -> None:
    torch.set_rng_state(_tensor(sd["torch"]))
    version, internal, gauss = sd["python"]
    random.setstate((version, tuple(internal), gauss))
    if sd.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_tensor(s) for s in sd["cuda"]])
