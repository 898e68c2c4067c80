"""Saving and resuming the training state (not activation checkpointing: that is trainer/checkpointing.py).

A saved state is one directory `step-00000100/` holding `state.pt`: model, optimizer, schedule, the data
position of every rank, step, tokens seen and RNG states. It is written under a temporary name and renamed,
so a directory with the final name is always complete; it is loaded with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


class StateStorage(Protocol):
    """Where saved states live. `save` must be atomic: `names()` never lists a half-written state."""

    def save(self, name: str, state: dict[str, Any]) -> None: ...

    def load(self, name: str) -> dict[str, Any]: ...

    def names(self) -> list[str]: ...

    def delete(self, name: str) -> None: ...


class LocalStorage:
    """A directory on the local (or a mounted) file system; temp directory + rename for atomicity."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(".tmp-*"):  # left behind by a killed save
            shutil.rmtree(stale, ignore_errors=True)

    def save(self, name: str, state: dict[str, Any]) -> None:
        tmp = self.root / f".tmp-{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        with open(tmp / "state.pt", "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        final = self.root / name
        if final.exists():  # saving the same step again (after a resume): move the old one out of the way first
            old = self.root / f".tmp-old-{name}-{os.getpid()}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
        _fsync_dir(self.root)

    def load(self, name: str) -> dict[str, Any]:
        return torch.load(self.root / name / "state.pt", map_location="cpu", weights_only=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if _NAME.match(p.name) and (p / "state.pt").exists())

    def delete(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def latest(storage: StateStorage) -> str | None:
    steps = [(step_of(n), n) for n in storage.names()]
    return max(steps)[1] if steps else None


def save_state(storage: StateStorage, step: int, state: dict[str, Any], keep_latest: int) -> None:
    storage.save(state_name(step), state)
    existing = [s for s in (step_of(n) for n in storage.names()) if s is not None]
    for old in to_purge(existing, keep_latest):
        storage.delete(state_name(old))


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(sd: dict[str, Any]) -> None:
    torch.set_rng_state(sd["torch"])
    random.setstate(sd["python"])
    if sd.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(sd["cuda"])
