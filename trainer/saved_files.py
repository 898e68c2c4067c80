"""The files of a saved training state, checked before anything in them is used.

`digests.json` is written last into a save directory, so its presence means the save is complete:

    {"format": "sluice.saved_state", "version": 1, "step": 100,
     "files": {".metadata": {"bytes": 1234, "sha256": "…"}, "__0_0.distcp": {…}, "trainer.json": {…}, …}}

Resume and export check every listed file's size and sha256 (a flipped byte or a truncated .distcp makes the save
damaged: it is skipped for the newest intact one), its step against the directory name, and the JSON files
against the shapes the loop reads (tampered JSON is one line naming the file, never a traceback). A digest proves
the files are the ones written, not who wrote them: safety against crafted files is trainer/safe_dcp.py's.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DIGESTS_FILE = "digests.json"
FORMAT, VERSION = "sluice.saved_state", 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CheckpointError(ValueError):
    """A saved state is damaged, incomplete or not ours; the message names the file and the problem."""


def digest_bytes(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def digest_file(path: str | Path, chunk: int = 8 << 20) -> dict[str, Any]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            size += len(block)
    return {"bytes": size, "sha256": h.hexdigest()}


def digests_json(step: int, files: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps({"format": FORMAT, "version": VERSION, "step": step, "files": dict(sorted(files.items()))},
                      indent=1).encode()


def read_digests(directory: Path, step: int) -> dict[str, dict[str, Any]]:
    """The file table of a save whose directory says `step`; CheckpointError naming digests.json otherwise."""
    path = directory / DIGESTS_FILE
    data = read_json(path)
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a {FORMAT} v{VERSION} file table")
    check_shape(data, {"step": "nat", "files": MapOf({"bytes": "nat", "sha256": str})}, str(path))
    if data["step"] != step:
        raise CheckpointError(f"{path}: says step {data['step']}, the directory is step {step}")
    files = data["files"]
    for name, entry in files.items():
        if "/" in name or "\\" in name or name in ("", ".", "..", DIGESTS_FILE) or not _SHA256.match(entry["sha256"]):
            raise CheckpointError(f"{path}: bad entry {name!r}")
    return files


def damaged_files(directory: Path, files: dict[str, dict[str, Any]], names: list[str]) -> str | None:
    """The first of `names` whose size or sha256 differs from the table (or that is missing), as a message."""
    for name in names:
        path, want = directory / name, files[name]
        try:
            size = path.stat().st_size
            got = digest_file(path) if size == want["bytes"] else None
        except FileNotFoundError:
            return f"{path}: missing"
        except OSError as e:
            return f"{path}: unreadable ({e.strerror or e})"
        if got is None:
            return f"{path}: {size} bytes, {DIGESTS_FILE} says {want['bytes']} (truncated or rewritten)"
        if got["sha256"] != want["sha256"]:
            return f"{path}: sha256 differs from {DIGESTS_FILE} (the file is damaged or was changed)"
    return None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a saved file; CheckpointError naming the file otherwise."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a JSON object")
    return data


# --- the shapes of saved JSON ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class MapOf:
    """A JSON object with any keys, each value of shape `value`."""

    value: Any


@dataclass(frozen=True, slots=True)
class ListOf:
    item: Any


@dataclass(frozen=True, slots=True)
class Maybe:
    """`spec` or null."""

    spec: Any


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_shape(value: Any, spec: Any, where: str) -> None:
    """CheckpointError naming `where` and the key unless `value` has shape `spec`: "nat" (int >= 0), "pos"
    (int >= 1), int, float (finite), str, bool, a dict of key -> spec (keys required, others allowed), MapOf,
    ListOf, Maybe, or a tuple of specs (a list of that length)."""

    def fail(path: str, want: str) -> None:
        raise CheckpointError(f"{where}: {path or 'the top level'} is {_describe(value_at[0])}, expected {want}")

    value_at = [value]

    def walk(v: Any, s: Any, path: str) -> None:
        value_at[0] = v
        if isinstance(s, Maybe):
            if v is not None:
                walk(v, s.spec, path)
        elif s in ("nat", "pos", int):
            if isinstance(v, bool) or not isinstance(v, int):
                fail(path, "an integer")
            if (s == "nat" and v < 0) or (s == "pos" and v < 1):
                fail(path, "an integer >= 0" if s == "nat" else "an integer >= 1")
        elif s is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                fail(path, "a finite number")
        elif s in (str, bool):
            if not isinstance(v, s):
                fail(path, "a string" if s is str else "true or false")
        elif isinstance(s, dict):
            if not isinstance(v, dict):
                fail(path, "an object")
            for key, sub in s.items():
                if key not in v:
                    value_at[0] = v
                    raise CheckpointError(f"{where}: {path + '.' if path else ''}{key} is missing")
                walk(v[key], sub, f"{path}.{key}" if path else key)
        elif isinstance(s, MapOf):
            if not isinstance(v, dict):
                fail(path, "an object")
            for key, sub in v.items():
                walk(sub, s.value, f"{path}.{key}" if path else key)
        elif isinstance(s, ListOf):
            if not isinstance(v, list):
                fail(path, "a list")
            for i, item in enumerate(v):
                walk(item, s.item, f"{path}[{i}]")
        elif isinstance(s, tuple):
            if not isinstance(v, list) or len(v) != len(s):
                fail(path, f"a list of {len(s)}")
            for i, (item, sub) in enumerate(zip(v, s, strict=True)):
                walk(item, sub, f"{path}[{i}]")
        else:
            raise TypeError(f"unknown shape {s!r}")

    walk(value, spec, "")
