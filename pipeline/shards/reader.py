"""The one reader of tokenized shard directories (format: shards/format.py): the trainer's and `sluice inspect`'s.

Reading (needs only pyarrow, numpy and fsspec)::

    reader = ShardReader("shards/")                  # or "s3://bucket/shards"; verify=True also checks sha256s
    reader.manifest, reader.shard_paths               # parsed manifest.json; full path of each shard
    for doc in reader:                                # ShardDocument: id, tokens (np.uint32 array), n_tokens,
        ...                                           #   category, quality, weight, shard, row
    for batch in reader.iter_batches(["tokens"]):     # pyarrow RecordBatches, one row group at a time at most
        ...
    part = reader.shard(rank, world_size)             # disjoint row groups (row ranges when there are fewer
                                                      #   row groups than parts); chain .shard(worker, n_workers)
    state = part.state_dict()                         # {"epoch", "shard", "row"}: the next row to hand out
    part.load_state_dict(state)                       # resume there; a finished pass rolls over to epoch + 1

Any damaged input raises ShardError naming the file: a missing shard, a size or sha256 that disagrees with the
manifest, an unreadable footer or row group, a page whose CRC-32 fails, a shard file the manifest does not list,
manifest totals that are not the sums of its shards, a tokenizer.json whose hash or EOS token disagrees.

Integrity (benchmarks/results/shard_verify.json): every page carries a CRC-32 that the reader always checks.
Measured: reading costs ~5 CPU-s per GB of shard file and the CRCs add 1-5% of that (~0.01 s per default
256 MB-of-tokens shard, ~85 MB on disk), with no extra I/O; 200 of 200 single-bit flips in a shard became an
error naming the file (without CRCs 146 of 200 were read as other data). Footers are checked against the manifest
on open. `verify=True` adds a sha256 of each shard once per reader, ~0.9 CPU-s per GB plus reading the file once
more before its first row group (the cost that matters on remote storage): for audits (`sluice inspect
--verify`), not needed to keep damaged tokens out of training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.shards.format import (
    MANIFEST,
    TOKENIZER_FILE,
    ShardError,
    file_sha256,
    read_manifest,
    sidecar_path,
    tokenizer_eos_id,
    tokenizer_vocab_size,
)


@dataclass(frozen=True, slots=True)
class ShardDocument:
    id: str
    tokens: np.ndarray  # uint32, EOS last; a view into the row group's buffer
    n_tokens: int
    category: str
    quality: float
    weight: float
    shard: int  # where it was read: resume after it with {"shard": shard, "row": row + 1}
    row: int


@dataclass(frozen=True, slots=True)
class _Unit:
    """A row group, or a range of its rows: the smallest piece a reader hands to a rank or worker."""

    shard: int
    row_group: int
    first_row: int  # in the shard
    rows: int
    group_first_row: int  # of the row group: a range starts first_row - group_first_row rows into it


def _row_ranges(units: list[_Unit], pieces: int) -> list[_Unit]:
    """Each unit cut into `pieces` contiguous row ranges of near-equal size (empty ones dropped), in order."""
    out = []
    for u in units:
        start = u.first_row
        for j in range(pieces):
            n = u.rows // pieces + (j < u.rows % pieces)
            if n:
                out.append(_Unit(u.shard, u.row_group, start, n, u.group_first_row))
            start += n
    return out


class ShardReader:
    """Iterates the documents (or record batches) of a shard directory; see the module docstring."""

    def __init__(self, path: str, verify: bool = False):
        import fsspec
        import fsspec.implementations.local

        self.url, self.verify = str(path).rstrip("/"), verify
        self._fs, self._root = fsspec.core.url_to_fs(self.url)
        self._local = isinstance(self._fs, fsspec.implementations.local.LocalFileSystem)
        self.manifest = read_manifest(self._fs, self._root)
        self._manifest_name = sidecar_path(self._fs, self._root, MANIFEST).rsplit("/", 1)[-1]  # in messages
        self._entries = self.manifest["shards"]
        self._check_listing()
        self._units = [_Unit(s, g, sum(e["row_groups"][:g]), n, sum(e["row_groups"][:g]))
                       for s, e in enumerate(self._entries) for g, n in enumerate(e["row_groups"]) if n]
        self._verified: set[int] = set()
        self.epoch, self.position = 0, (0, 0)

    @property
    def shard_paths(self) -> list[str]:
        """Each shard as a path (local) or URL that fsspec and pyarrow open."""
        paths = [self._path(i) for i in range(len(self._entries))]
        return paths if self._local else [self._fs.unstrip_protocol(p) for p in paths]

    def __len__(self) -> int:
        """Documents this reader (this rank's part, after shard()) hands out per epoch."""
        return sum(u.rows for u in self._units)

    def shard(self, rank: int, world_size: int) -> ShardReader:
        """The part of this reader that `rank` of `world_size` reads: every world_size-th row group. With fewer row
        groups than parts, each is first cut into the same number of row ranges, enough for every part (a small
        corpus still trains on many ranks); the cut depends only on the units and world_size, so a resumed run
        that reads the same parts reads the same rows in the same order."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        units = self._units
        if 0 < len(units) < world_size:
            units = _row_ranges(units, -(-world_size // len(units)))
        part = object.__new__(ShardReader)
        part.__dict__.update(self.__dict__, _units=units[rank::world_size], _verified=set())
        return part

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "shard": self.position[0], "row": self.position[1]}

    def load_state_dict(self, state: dict) -> None:
        shard, row = int(state["shard"]), int(state["row"])
        if not (0 <= shard <= len(self._entries) and row >= 0):
            raise ValueError(f"position (shard {shard}, row {row}) is outside {self.url} "
                             f"({len(self._entries)} shards)")
        self.epoch, self.position = int(state.get("epoch", 0)), (shard, row)

    def __iter__(self) -> Iterator[ShardDocument]:
        for batch, shard, first in self._batches(None):
            ids = batch.column("id").to_pylist()
            tokens = batch.column("tokens")
            offsets, values = tokens.offsets.to_numpy(), tokens.values.to_numpy()
            category = batch.column("category").to_pylist()
            quality, weight = (batch.column(c).to_numpy(zero_copy_only=False) for c in ("quality", "weight"))
            for i in range(len(ids)):
                self.position = (shard, first + i + 1)
                yield ShardDocument(ids[i], values[offsets[i]:offsets[i + 1]], int(offsets[i + 1] - offsets[i]),
                                    category[i], float(quality[i]), float(weight[i]), shard, first + i)
            self._advance()

    def iter_batches(self, columns: list[str] | None = None) -> Iterator:
        """RecordBatches of at most one row group, from the current position on; each counts as read once
        handed out."""
        for batch, shard, first in self._batches(columns):
            self.position = (shard, first + len(batch))
            yield batch
            self._advance()

    def _advance(self) -> None:
        if self.position >= self._end:
            self.epoch, self.position = self.epoch + 1, (0, 0)

    @property
    def _end(self) -> tuple[int, int]:
        last = self._units[-1] if self._units else _Unit(0, 0, 0, 0, 0)
        return (last.shard, last.first_row + last.rows)

    def _batches(self, columns: list[str] | None) -> Iterator:
        """(row group batch, shard, first row) from the position on. The position is read once, at the start."""
        import pyarrow as pa

        if self.position >= self._end and self.position != (0, 0):  # stopped right after the last row
            self.epoch, self.position = self.epoch + 1, (0, 0)
        start, opened = self.position, (None, None)
        for unit in self._units:
            if (unit.shard, unit.first_row + unit.rows) <= start:
                continue
            if opened[0] != unit.shard:
                opened = (unit.shard, self.open_shard(unit.shard))
            path = self._path(unit.shard)
            try:
                table = opened[1].read_row_group(unit.row_group, columns=columns)
            except (OSError, pa.ArrowException) as e:
                raise ShardError(f"{path}: row group {unit.row_group} is unreadable ({e})") from None
            group_rows = self._entries[unit.shard]["row_groups"][unit.row_group]
            if len(table) != group_rows:
                raise ShardError(f"{path}: row group {unit.row_group} has {len(table)} rows, manifest.json says "
                                 f"{group_rows}")
            skip = max(0, start[1] - unit.first_row) if unit.shard == start[0] else 0
            begin = unit.first_row - unit.group_first_row + skip
            for batch in table.slice(begin, unit.rows - skip).combine_chunks().to_batches():
                yield batch, unit.shard, unit.first_row + skip
                skip += len(batch)

    def _path(self, shard: int) -> str:
        return f"{self._root}/{self._entries[shard]['file']}"

    def tokenizer_json(self) -> str:
        """The text of the shards' tokenizer.json, after checking it is the one the manifest records (its sha256)
        and that its EOS token has the id every document ends with: the tokens mean nothing with another one."""
        info, path = self.manifest.get("tokenizer") or {}, sidecar_path(self._fs, self._root, TOKENIZER_FILE)
        try:
            with self._fs.open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise ShardError(f"{path}: missing (the manifest's tokenizer travels with the shards)") from None
        if hashlib.sha256(raw).hexdigest() != info.get("sha256"):
            raise ShardError(f"{path}: sha256 differs from {self._manifest_name}'s tokenizer.sha256 (another "
                             "tokenizer, or damaged): the shards' token ids would be read with the wrong vocabulary")
        try:
            text = raw.decode("utf-8")
            eos = tokenizer_eos_id(text, info.get("eos_token", ""))
            size = tokenizer_vocab_size(text)
        except (UnicodeDecodeError, ValueError, AttributeError, TypeError) as e:
            raise ShardError(f"{path}: not a tokenizer.json ({e})") from None
        if eos is None or eos != info.get("eos_id"):
            raise ShardError(f"{path}: EOS token {info.get('eos_token')!r} has id {eos}, {self._manifest_name} "
                             f"says {info.get('eos_id')}")
        if size is not None and size != info.get("vocab_size"):
            raise ShardError(f"{path}: a vocabulary of {size} ids, {self._manifest_name} says tokenizer.vocab_size = "
                             f"{info.get('vocab_size')!r}")
        return text

    def _check_listing(self) -> None:
        """One directory listing catches missing, truncated, grown and unlisted shard files before any read."""
        sizes = {info["name"].rsplit("/", 1)[-1]: info["size"] for info in self._fs.ls(self._root, detail=True)}
        for entry in self._entries:
            path = f"{self._root}/{entry['file']}"
            if entry["file"] not in sizes:
                raise ShardError(f"{path}: listed in {self._manifest_name} but missing")
            if sizes[entry["file"]] != entry["bytes"]:
                raise ShardError(f"{path}: {sizes[entry['file']]} bytes, {self._manifest_name} says {entry['bytes']} "
                                 f"(truncated or rewritten)")
        listed = {e["file"] for e in self._entries}
        for name in sorted(sizes):
            if name.startswith("shard-") and name.endswith(".parquet") and name not in listed:
                raise ShardError(f"{self._root}/{name}: a shard file that {self._manifest_name} does not list")

    def open_shard(self, shard: int, read_dictionary: list[str] | None = None):
        """The pyarrow ParquetFile of shard `shard` (index in the manifest), checked against the manifest."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        entry, path = self._entries[shard], self._path(shard)
        if self.verify and shard not in self._verified:
            if file_sha256(path, self._fs) != entry["sha256"]:
                raise ShardError(f"{path}: sha256 differs from {self._manifest_name} (the file is corrupt or was "
                                 "replaced)")
            self._verified.add(shard)
        try:
            pf = pq.ParquetFile(path if self._local else self._fs.open(path, "rb"), read_dictionary=read_dictionary,
                                page_checksum_verification=True)
        except FileNotFoundError:
            raise ShardError(f"{path}: listed in {self._manifest_name} but missing") from None
        except (OSError, pa.ArrowException) as e:
            raise ShardError(f"{path}: not a readable Parquet file ({e})") from None
        groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
        if groups != entry["row_groups"]:
            raise ShardError(f"{path}: row groups {groups} disagree with {self._manifest_name} "
                             f"({entry['row_groups']})")
        return pf
