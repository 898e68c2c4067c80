"""Writing tokenized shards (format: shards/format.py): one file per shard, row groups cut by token bytes, hashed
while written so a shard is never read back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import numpy as np

from pipeline.shards.format import DICTIONARY_COLUMNS, ShardInfo, row_bytes, shard_arrow_schema, shard_name


class _HashingFile:
    """A write-only file that hashes and counts what passes through, so a shard is read back zero times."""

    def __init__(self, f):
        self._f, self.sha256, self.size, self.closed = f, hashlib.sha256(), 0, False

    def write(self, data) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        return self._f.write(data)

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self.closed:
            self._f.close()
            self.closed = True


class ShardWriter:
    """One shard file. Rows arrive in their final order; row groups are cut at `row_group_bytes` (row_bytes
    measure) and written as single-chunk tables, so the file's bytes depend only on its rows."""

    def __init__(self, fs, directory: str, index: int, row_group_bytes: int):
        import pyarrow.parquet as pq

        self.info = ShardInfo(file=shard_name(index))
        self.row_group_bytes = row_group_bytes
        self._file = _HashingFile(fs.open(f"{directory}/{self.info.file}", "wb"))
        self._schema = shard_arrow_schema()
        columns = self._schema.names
        self._writer = pq.ParquetWriter(self._file, self._schema, compression="zstd",
                                        use_dictionary=DICTIONARY_COLUMNS, write_page_checksum=True,
                                        write_statistics=[c for c in columns if c != "tokens"])
        self._pending: list = []
        self._pending_bytes = 0

    def write(self, batch) -> None:
        import pyarrow as pa

        batch = batch.select(self._schema.names).cast(self._schema)
        sizes = np.cumsum(row_bytes(batch.column("n_tokens").to_numpy(zero_copy_only=False)))
        while len(batch):
            room = self.row_group_bytes - self._pending_bytes
            cut = min(int(np.searchsorted(sizes, room)) + 1, len(batch))  # the row that fills the group goes in
            self._pending.append(batch.slice(0, cut))
            self._pending_bytes += int(sizes[cut - 1])
            batch, sizes = batch.slice(cut), sizes[cut:] - sizes[cut - 1]
            if self._pending_bytes >= self.row_group_bytes:
                self._flush(pa)

    def _flush(self, pa) -> None:
        if not self._pending:
            return
        table = pa.Table.from_batches(self._pending, self._schema).combine_chunks()
        self._writer.write_table(table, row_group_size=len(table))
        self.info.rows += len(table)
        self.info.tokens += int(table.column("n_tokens").to_numpy().sum())
        self.info.row_groups.append(len(table))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> ShardInfo:
        import pyarrow as pa

        self._flush(pa)
        self._writer.close()
        self._file.close()
        self.info.bytes, self.info.sha256 = self._file.size, self._file.sha256.hexdigest()
        return self.info


def write_shards(batches: Iterable, out_url: str, row_group_bytes: int, shard_column: str = "shard"
                 ) -> Iterator[ShardInfo]:
    """Write the batches (sorted by `shard_column`, rows in final order) as whole shards; one ShardInfo each."""
    import fsspec

    fs, directory = fsspec.core.url_to_fs(out_url)
    writer = None
    for batch in batches:
        shard_ids = batch.column(shard_column).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, shard_ids[1:] != shard_ids[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(shard_ids)], strict=True):
            index = int(shard_ids[start])
            if writer is None or writer.info.file != shard_name(index):
                if writer is not None:
                    yield writer.close()
                writer = ShardWriter(fs, directory, index, row_group_bytes)
            writer.write(batch.slice(int(start), int(end - start)))
    if writer is not None:
        yield writer.close()


def write_empty_shard(out_url: str, index: int) -> ShardInfo:
    import fsspec

    fs, directory = fsspec.core.url_to_fs(out_url)
    return ShardWriter(fs, directory, index, 1).close()
