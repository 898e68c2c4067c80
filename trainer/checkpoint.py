"""Sharded saves of the training state with torch.distributed.checkpoint (DCP), reloadable on another layout.

A saved state is a directory `step-00000100/`:

    .metadata, __R_0.distcp   DCP: model and optimizer state, every rank writing its own shards; DCP keys tensors
                              by parameter name and global offsets, so a state saved by 4 ranks (or with ep 2)
                              loads on 2 ranks (or ep 1) with the same values
    rank-00000.json ...       each rank's data position (per data stream it reads) and RNG state
    trainer.json              step, tokens seen, schedule, the layout and the number of data streams; written
                              last, by rank 0

All ranks write into `.tmp-step-00000100/`, which rank 0 renames once every rank is done: a directory with the
final name is always complete. Nothing saved is unpickled: DCP tensors load as tensors, the rest is JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from trainer.state import newest, state_name, step_of, to_purge

TRAINER_FILE = "trainer.json"


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_complete(path: Path) -> bool:
    return step_of(path.name) is not None and (path / TRAINER_FILE).is_file() and (path / ".metadata").is_file()


def complete_states(root: str | Path) -> list[str]:
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if is_complete(p)) if root.is_dir() else []


def latest(root: str | Path) -> Path | None:
    """The newest complete saved state under `root` (what --resume continues from), or None."""
    name = newest(complete_states(root))
    return Path(root) / name if name else None


def clean_stale(root: str | Path) -> None:
    """Removes temporary directories of saves that were killed half-way (rank 0, before anyone writes)."""
    root = Path(root)
    if _rank() == 0 and root.is_dir():
        for stale in root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
    _barrier()


@contextlib.contextmanager
def _single_process_quiet():
    """DCP warns that it assumes a single process when there is no process group; that is the intent here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer | None) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state = {"model": get_model_state_dict(model)}
    if optimizer is not None:
        state["optimizer"] = get_optimizer_state_dict(model, optimizer)
    return state


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())


def save(root: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
         trainer_state: dict[str, Any], rank_state: dict[str, Any], keep_latest: int = 0) -> Path:
    """Collective: every rank calls it. `trainer_state` is rank 0's (the same on every rank); `rank_state` is
    each rank's own. Returns the final directory."""
    import torch.distributed.checkpoint as dcp

    root = Path(root)
    name = state_name(step)
    tmp, final = root / f".tmp-{name}", root / name
    if _rank() == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    _barrier()
    with _single_process_quiet():
        dcp.save(_state_dicts(model, optimizer), checkpoint_id=str(tmp), no_dist=not dist.is_initialized())
    _write_json(tmp / f"rank-{_rank():05d}.json", rank_state)
    _barrier()
    if _rank() == 0:
        _write_json(tmp / TRAINER_FILE, trainer_state)
        if final.exists():  # saving the same step again (after a resume): move the old one out of the way first
            old = root / f".tmp-old-{name}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
        _fsync_dir(root)
        existing = [s for s in (step_of(n) for n in complete_states(root)) if s is not None]
        for old_step in to_purge(existing, keep_latest):
            shutil.rmtree(root / state_name(old_step), ignore_errors=True)
    _barrier()
    return final


def read_trainer_state(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / TRAINER_FILE).read_text())


def read_rank_states(path: str | Path) -> list[dict[str, Any]]:
    """Every saving rank's own state, in rank order (any rank may read all of them: the layout may differ)."""
    files = sorted(Path(path).glob("rank-*.json"))
    return [json.loads(f.read_text()) for f in files]


def load(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Collective: loads model (and optimizer) state into this layout's shards, whatever layout saved it."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    state = _state_dicts(model, optimizer)
    with _single_process_quiet():
        dcp.load(state, checkpoint_id=str(path), no_dist=not dist.is_initialized())
    set_model_state_dict(model, state["model"])
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, state["optimizer"])


def load_model_weights(path: str | Path, model: nn.Module) -> None:
    """One process, no process group: the model weights of a saved state into a plain (unsharded) model, e.g. to
    export or evaluate a run. Optimizer state is not read."""
    load(path, model, None)


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
