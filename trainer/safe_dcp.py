"""Reading torch.distributed.checkpoint (DCP) saves without running code from them.

DCP's `.metadata` is a pickle, and the save's non-tensor items (the optimizer's param_groups: lr, betas, ...)
are torch.save'd objects that DefaultLoadPlanner reads with torch.load(weights_only=False): a crafted save would
run any code it likes on `sluice train --resume` or `sluice export-hf`. Here:

    .metadata     goes through an unpickler that builds only DCP's own metadata classes, torch sizes, dtypes
                  and layouts and builtin containers; the result is checked for shape, and every storage entry
                  must name a file of the save (digests.json lists them), at a non-negative offset
    byte items    load with torch.load(weights_only=True): plain numbers, strings, tuples, lists, dicts
    tensors       FileSystemReader already loads them with weights_only=True

so a save is data: at worst it fails to load, with one line naming the file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint import metadata as dcp_metadata
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import _StorageInfo

from trainer.saved_files import CheckpointError

METADATA_FILE = ".metadata"

_ALLOWED = {
    *(("torch.distributed.checkpoint.metadata", n) for n in (
        "Metadata", "MetadataIndex", "StorageMeta", "TensorProperties", "TensorStorageMetadata",
        "BytesStorageMetadata", "ChunkStorageMetadata", "_MEM_FORMAT_ENCODING")),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),  # a lookup of torch's layouts by name
    ("collections", "OrderedDict"),
    # StorageMeta.checkpoint_id: the directory the save was written to
    ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"),
    ("pathlib._local", "PosixPath"), ("pathlib._local", "PurePosixPath"),
}


class UnsafeCheckpointError(CheckpointError):
    """A saved file holds something other than checkpoint data; the message names the file and what it held."""


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"refused to build {module}.{name} (not checkpoint metadata)")


def _is_size(x: Any) -> bool:
    return isinstance(x, torch.Size) and all(isinstance(d, int) and d >= 0 for d in x)


def _check_metadata(md: Any, files: set[str] | None) -> str | None:
    """What is wrong with unpickled metadata, or None. `files`: the names a storage entry may point into."""
    if not isinstance(md, dcp_metadata.Metadata) or not isinstance(md.state_dict_metadata, dict):
        return f"holds a {type(md).__name__}, not DCP metadata"
    for key, item in md.state_dict_metadata.items():
        if isinstance(item, dcp_metadata.TensorStorageMetadata):
            props = item.properties
            ok = (isinstance(props, dcp_metadata.TensorProperties) and isinstance(props.dtype, torch.dtype)
                  and _is_size(item.size) and isinstance(item.chunks, list)
                  and all(isinstance(c, dcp_metadata.ChunkStorageMetadata) and _is_size(c.offsets)
                          and _is_size(c.sizes) for c in item.chunks))
        else:
            ok = isinstance(item, dcp_metadata.BytesStorageMetadata)
        if not isinstance(key, str) or not ok:
            return f"entry {key!r} is malformed"
    if not isinstance(md.storage_data, dict):
        return "has no storage table"
    for index, info in md.storage_data.items():
        if not isinstance(index, dcp_metadata.MetadataIndex) or not isinstance(info, _StorageInfo):
            return f"storage entry {index!r} is malformed"
        where = info.relative_path
        if not isinstance(where, str) or "/" in where or "\\" in where or (files is not None and where not in files):
            return f"storage entry {index.fqn!r} points at {where!r}, not a file of this save"
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (info.offset, info.length)):
            return f"storage entry {index.fqn!r} has offset {info.offset!r}, length {info.length!r}"
        if info.transform_descriptors:  # compression and other extensions: never written by sluice
            return f"storage entry {index.fqn!r} asks for transforms {info.transform_descriptors!r}"
    if md.planner_data is not None and not isinstance(md.planner_data, dict):
        return "planner data is malformed"
    return None


def read_metadata(directory: str | Path, files: set[str] | None = None) -> dcp_metadata.Metadata:
    """The save's DCP metadata, built without running any code; UnsafeCheckpointError naming the file else."""
    path = Path(directory) / METADATA_FILE
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UnsafeCheckpointError(f"{path}: unreadable ({e.strerror or e})") from None
    try:
        md = _MetadataUnpickler(io.BytesIO(raw)).load()
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(f"{path}: {e}") from None
    except Exception as e:  # noqa: BLE001  any other failure of damaged bytes: a truncated or garbled pickle
        raise UnsafeCheckpointError(f"{path}: not DCP metadata ({type(e).__name__}: {e})") from None
    problem = _check_metadata(md, files)
    if problem:
        raise UnsafeCheckpointError(f"{path}: {problem}")
    return md


def load_plain_data(raw: bytes | io.BytesIO, where: str) -> Any:
    """A torch.save'd non-tensor item, refused unless it is plain data."""
    stream = raw if isinstance(raw, io.BytesIO) else io.BytesIO(raw)
    try:
        return torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  weights_only refuses with UnpicklingError; damage raises anything
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsafeCheckpointError(f"{where}: not plain data ({first})") from None


def check_byte_items(directory: str | Path, md: dcp_metadata.Metadata) -> None:
    """Loads every non-tensor item the way resume will, so a save whose items are not plain data is known to be
    unusable before anything is loaded (and an older save can be used instead)."""
    directory = Path(directory)
    for index, info in md.storage_data.items():
        if not isinstance(md.state_dict_metadata.get(index.fqn), dcp_metadata.BytesStorageMetadata):
            continue
        with open(directory / info.relative_path, "rb") as f:
            f.seek(info.offset)
            raw = f.read(info.length)
        load_plain_data(raw, f"{directory / info.relative_path} (item {index.fqn})")


class SafeFileSystemReader(FileSystemReader):
    """FileSystemReader whose metadata comes from the restricted unpickler (see the module docstring)."""

    def __init__(self, path: str | Path, files: set[str] | None = None):
        super().__init__(path)
        self.files = files

    def read_metadata(self, *args: Any, **kwargs: Any) -> dcp_metadata.Metadata:
        if kwargs.get("rank") is not None:  # per-rank metadata files: a save layout sluice never writes
            raise UnsafeCheckpointError(f"{self.path}: per-rank metadata is not supported")
        md = read_metadata(self.path, self.files)
        if md.storage_meta is None:
            md.storage_meta = dcp_metadata.StorageMeta()
        md.storage_meta.load_id = self.load_id
        return md


class SafeLoadPlanner(DefaultLoadPlanner):
    """DefaultLoadPlanner whose non-tensor items load with weights_only=True."""

    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        from torch.distributed.checkpoint._traverse import set_element

        obj = load_plain_data(value, f"item {read_item.dest_index.fqn}")
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj
