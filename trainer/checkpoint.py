"""Sharded saves of the training state with torch.distributed.checkpoint (DCP), reloadable on another layout.

A saved state is a directory `step-00000100/`:

    .metadata, __R_0.distcp   DCP: model and optimizer state, every rank writing its own shards; DCP keys tensors
                              by parameter name and global offsets, so a state saved by 4 ranks (or with ep 2)
                              loads on 2 ranks (or ep 1) with the same values
    rank-00000.json ...       each rank's data position (per data stream it reads) and RNG state
    trainer.json              step, tokens seen, schedule, the layout and the number of data streams
    digests.json              size and sha256 of every other file; written last, by rank 0 (trainer/saved_files.py)

All ranks write into `.tmp-step-00000100/`, which rank 0 renames once every rank is done: a directory with the
final name is always complete. Before a state is used (resume, export) its files are checked against
digests.json, its JSON against the shapes the loop reads and its DCP metadata is read without running code
(trainer/safe_dcp.py); a damaged state is skipped, with a warning naming it, for the newest intact one. Nothing
saved is unpickled beyond DCP's own metadata classes: tensors load as tensors, the rest is JSON or plain data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from trainer import safe_dcp
from trainer.saved_files import (
    DIGESTS_FILE,
    CheckpointError,
    check_shape,
    damaged_files,
    digest_bytes,
    digest_file,
    digests_json,
    read_digests,
    read_json,
)
from trainer.state import newest, state_name, step_of, to_purge

TRAINER_FILE = "trainer.json"
__all__ = ["CheckpointError", "save", "load", "newest_intact", "check_state", "complete_states"]


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def _gathered(obj: Any) -> list[Any]:
    """`obj` from every rank (pickled between this job's own processes, never read from disk)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def is_complete(path: Path) -> bool:
    """Complete: its digests.json, written last, is there (whether the files still match it is check_state's)."""
    return step_of(path.name) is not None and (path / DIGESTS_FILE).is_file()


def complete_states(root: str | Path) -> list[str]:
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if is_complete(p)) if root.is_dir() else []


def latest(root: str | Path) -> Path | None:
    """The newest complete saved state under `root`, unchecked (newest_intact is what resume and export use)."""
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


def _write(path: Path, data: bytes) -> dict[str, Any]:
    """Writes and syncs `data`; returns its digest (of the bytes in hand, so nothing is read back)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return digest_bytes(data)


def _json_bytes(data: dict) -> bytes:
    return json.dumps(data).encode()


def save(root: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
         trainer_state: dict[str, Any], rank_state: dict[str, Any], keep_latest: int = 0) -> Path:
    """Collective: every rank calls it. `trainer_state` is rank 0's (the same on every rank); `rank_state` is
    each rank's own. Returns the final directory. A save that fails (disk full, read-only, permission) leaves no
    half-written `.tmp-step-N` behind: rank 0 removes it before the error goes on."""
    try:
        return _save(root, step, model, optimizer, trainer_state, rank_state, keep_latest)
    except BaseException:
        if _rank() == 0:
            shutil.rmtree(Path(root) / f".tmp-{state_name(step)}", ignore_errors=True)
        raise


def _save(root: str | Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
          trainer_state: dict[str, Any], rank_state: dict[str, Any], keep_latest: int = 0) -> Path:
    import torch.distributed.checkpoint as dcp

    root = Path(root)
    name = state_name(step)
    tmp, final = root / f".tmp-{name}", root / name
    rank = _rank()
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    _barrier()
    with _single_process_quiet():
        dcp.save(_state_dicts(model, optimizer), checkpoint_id=str(tmp), no_dist=not dist.is_initialized())
    # each rank hashes what it wrote (DCP names a rank's files __R_*.distcp), so no rank reads the whole save
    mine = {f"rank-{rank:05d}.json": _write(tmp / f"rank-{rank:05d}.json", _json_bytes(rank_state))}
    mine |= {p.name: digest_file(p) for p in sorted(tmp.glob(f"__{rank}_*.distcp"))}
    files = {k: v for part in _gathered(mine) for k, v in part.items()}  # also the barrier: every rank is done
    if rank == 0:
        files[TRAINER_FILE] = _write(tmp / TRAINER_FILE, _json_bytes(trainer_state))
        for path in sorted(tmp.iterdir()):  # .metadata, and anything DCP wrote under another name
            if path.name not in files:
                files[path.name] = digest_file(path)
        _write(tmp / DIGESTS_FILE, digests_json(step, files))
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


def read_trainer_state(path: str | Path, shape: Any = None) -> dict[str, Any]:
    """trainer.json, its step checked against the directory name (and its keys against `shape`)."""
    path = Path(path)
    data = read_json(path / TRAINER_FILE)
    check_shape(data, {"step": "nat", **(shape or {})}, str(path / TRAINER_FILE))
    if data["step"] != step_of(path.name):
        raise CheckpointError(f"{path / TRAINER_FILE}: says step {data['step']}, the directory is {path.name}")
    return data


def read_rank_states(path: str | Path, shape: Any = None) -> list[dict[str, Any]]:
    """Every saving rank's own state, in rank order (any rank may read all of them: the layout may differ)."""
    files = sorted(Path(path).glob("rank-*.json"))
    if [f.name for f in files] != [f"rank-{r:05d}.json" for r in range(len(files))]:
        raise CheckpointError(f"{path}: rank files {[f.name for f in files]} are not rank-00000.json, ... in order")
    states = [read_json(f) for f in files]
    for r, (f, state) in enumerate(zip(files, states, strict=True)):
        check_shape(state, {"rank": "nat", **(shape or {})}, str(f))
        if state["rank"] != r:
            raise CheckpointError(f"{f}: says rank {state['rank']}")
    return states


def check_state(path: str | Path, trainer_shape: Any = None, rank_shape: Any = None) -> str | None:
    """Collective: what makes the saved state at `path` unusable, or None (the same answer on every rank).

    The files are checked against digests.json (each rank hashes its share of them), the JSON against the
    shapes, the DCP metadata is read without running code and every non-tensor item must be plain data."""
    path = Path(path)
    problem = None
    try:
        files = read_digests(path, step_of(path.name))
        for required in (safe_dcp.METADATA_FILE, TRAINER_FILE):
            if required not in files:
                raise CheckpointError(f"{path / DIGESTS_FILE}: does not list {required}")
        unlisted = sorted(p.name for p in path.glob("rank-*.json") if p.name not in files)
        if unlisted:
            raise CheckpointError(f"{path / unlisted[0]}: not listed in {DIGESTS_FILE} (resume would read it)")
        problem = damaged_files(path, files, sorted(files)[_rank()::_world()])
        if problem is None:
            state = read_trainer_state(path, trainer_shape)
            ranks = read_rank_states(path, rank_shape)
            if "world_size" in state and len(ranks) != state["world_size"]:
                raise CheckpointError(f"{path}: {len(ranks)} rank files, {TRAINER_FILE} says world_size "
                                      f"{state['world_size']}")
            safe_dcp.check_byte_items(path, safe_dcp.read_metadata(path, set(files)))
    except CheckpointError as e:
        problem = str(e)
    except OSError as e:  # a file another rank found missing; every rank must still reach the gather below
        problem = f"{path}: {e}"
    return next((p for p in _gathered(problem) if p), None)


def newest_intact(root: str | Path, trainer_shape: Any = None, rank_shape: Any = None,
                  warn_prefix: str = "") -> Path | None:
    """Collective: the newest complete saved state under `root` that passes check_state; each newer damaged one
    is skipped with a warning naming it (rank 0, stderr). None when there is none; CheckpointError when every
    complete state is damaged, naming the newest one's problem."""
    names = complete_states(root)
    problems = []
    for name in reversed(names):
        path = Path(root) / name
        problem = check_state(path, trainer_shape, rank_shape)
        if problem is None:
            return path
        problems.append(problem)
        if _rank() == 0:
            print(f"{warn_prefix}warning: saved state {path} is damaged, skipped: {problem}", file=sys.stderr)
    if problems:
        raise CheckpointError(f"no intact saved state under {root} ({len(problems)} damaged; newest: "
                              f"{problems[0]})")
    return None


def load(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
         checked: bool = False) -> None:
    """Collective: loads model (and optimizer) state into this layout's shards, whatever layout saved it.
    Unless `checked` (check_state already passed), the state is checked first; CheckpointError if unusable."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    path = Path(path)
    if not checked and (problem := check_state(path)):
        raise CheckpointError(problem)
    files = set(read_digests(path, step_of(path.name)))
    state = _state_dicts(model, optimizer)
    try:
        with _single_process_quiet():
            dcp.load(state, storage_reader=safe_dcp.SafeFileSystemReader(path, files),
                     planner=safe_dcp.SafeLoadPlanner(), no_dist=not dist.is_initialized())
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001  DCP wraps a failure on any rank; a damaged save is a user error
        text = str(e).strip().splitlines()
        raise CheckpointError(f"{path}: cannot be loaded into this model ({text[-1] if text else type(e).__name__})"
                              ) from None
    set_model_state_dict(model, state["model"])
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, state["optimizer"])


def load_model_weights(path: str | Path, model: nn.Module, checked: bool = False) -> None:
    """One process, no process group: the model weights of a saved state into a plain (unsharded) model, e.g. to
    export or evaluate a run. Optimizer state is not read."""
    load(path, model, None, checked)


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
