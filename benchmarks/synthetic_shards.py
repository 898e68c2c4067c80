"""Synthetic token shards for the training benchmarks, written by the pipeline's own shard writer.

Every column other than `id`, `tokens` and `n_tokens` is filled from the shard schema (pipeline/shards.py) with a
neutral value of its type, so a column added to the format is written here too and the benchmarks keep running.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SYNTHETIC_VOCAB_EOS = 0  # the shards' tokenizer ends documents with id 0, as the real tokenizer does


def _neutral_column(field, n: int):
    import pyarrow as pa

    if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
        return pa.array(["synthetic"] * n, field.type)
    if pa.types.is_floating(field.type):
        return pa.array([1.0] * n, field.type)
    if pa.types.is_integer(field.type):
        return pa.array([0] * n, field.type)
    if pa.types.is_boolean(field.type):
        return pa.array([False] * n, field.type)
    return pa.nulls(n, field.type)


def write_synthetic_shards(root: Path, lengths: list[int] | np.ndarray, vocab: int, seed: int = 0,
                           docs_per_row_group: int = 64) -> Path:
    """One shard of random documents of the given token lengths (ending in EOS), plus its manifest."""
    import fsspec
    import pyarrow as pa

    from pipeline.shards.format import MANIFEST, build_manifest, manifest_json, row_bytes, shard_arrow_schema
    from pipeline.shards.writer import ShardWriter

    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    root.mkdir(parents=True, exist_ok=True)
    tokens = rng.integers(1, vocab, size=int(lengths.sum()), dtype=np.uint32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    tokens[offsets[1:] - 1] = SYNTHETIC_VOCAB_EOS
    n = len(lengths)
    given = {"id": pa.array([f"synthetic-{i}" for i in range(n)]),
             "tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(tokens, pa.uint32())),
             "n_tokens": pa.array(lengths, pa.int32())}
    schema = shard_arrow_schema()
    batch = pa.record_batch([given[f.name] if f.name in given else _neutral_column(f, n) for f in schema],
                            schema=schema)
    group_bytes = int(row_bytes(np.array([int(lengths.mean())]))[0]) * docs_per_row_group - 1
    writer = ShardWriter(fsspec.filesystem("file"), str(root), 0, group_bytes)
    writer.write(batch)
    manifest = build_manifest([writer.close()], tokenizer={"vocab_size": vocab, "eos_id": SYNTHETIC_VOCAB_EOS},
                              config={"synthetic": True}, config_hash="")
    (root / MANIFEST).write_text(manifest_json(manifest))
    return root
