"""Tokenization: train or load a Hugging Face tokenizer, encode Arrow batches, turn weights into copies.

`tokenize_batch` is the whole stage on one Arrow batch of classified documents; jobs/tokenize_shards.py only
distributes it and hands its output to pipeline.shards.format for writing. Every document gets the EOS id appended.
The tokenizer's own post-processor template (BOS and the like) is not applied: EOS is the only special token
a shard document carries, whichever tokenizer.json is used.

`sluice tokenizer train` (jobs/tokenizer_cli.py) trains a byte-level BPE on a bounded, deterministic sample of the
`text` column of a stage output (`sample_texts`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from pipeline.config import ConfigError, Count, Range, Seed
from pipeline.stats import DropReason, Stats

# Documents whose fractional weight rounds them to zero copies. Ask: DropReason.DOWNSAMPLED in pipeline/stats.py.
DOWNSAMPLED = getattr(DropReason, "DOWNSAMPLED", "downsampled")
COPY_SEPARATOR = "#"  # copy k > 0 of document X is written with id "X#k"


@dataclass(kw_only=True)
class TokenizeConfig:
    tokenizer: str = ""  # tokenizer.json (path or fsspec URL); the job's --tokenizer flag
    eos_token: str = "<|endoftext|>"  # must be in the tokenizer's vocabulary; appended to every document
    target_shard_mb: Count = 256  # shard size, counted as uncompressed token bytes (4 per token); files are smaller
    row_group_mb: Count = 8  # Parquet row group size (same measure): the unit a streaming reader loads at once
    seed: Seed = 0  # shuffle order and the fractional part of weights
    max_copies: Count = 16  # upper bound on copies of one document, whatever its weight
    vocab_size: Annotated[int, Range(1, 1 << 24)] = 32000  # `sluice tokenizer train` defaults
    train_sample_mb: Count = 256
    min_frequency: Count = 2

    def __post_init__(self) -> None:
        for key in ("target_shard_mb", "row_group_mb", "max_copies", "vocab_size", "train_sample_mb", "min_frequency"):
            if getattr(self, key) < 1:
                raise ConfigError(f"tokenize.{key}: must be >= 1, got {getattr(self, key)}")
        if self.row_group_mb > self.target_shard_mb:
            raise ConfigError(f"tokenize.row_group_mb ({self.row_group_mb}) exceeds target_shard_mb "
                              f"({self.target_shard_mb})")
        if not self.eos_token:
            raise ConfigError("tokenize.eos_token: must not be empty")


# --- the tokenizer ------------------------------------------------------------------------------------------------

def read_tokenizer_json(url: str) -> str:
    import fsspec

    try:
        with fsspec.open(url, "r", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConfigError(f"tokenizer file not found: {url}") from None


def load_tokenizer(tokenizer_json: str, source: str = "tokenizer.json"):
    """A `tokenizers.Tokenizer` from the JSON text of a tokenizer.json; `source` names it in errors."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(tokenizer_json)
    except Exception as e:  # noqa: BLE001 (tokenizers raises a bare Exception for a malformed file)
        raise ConfigError(f"{source}: not a valid tokenizer.json ({e})") from None


def tokenizer_sha256(tokenizer_json: str) -> str:
    return hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest()


def eos_id(tokenizer, eos_token: str, source: str = "tokenizer.json") -> int:
    token_id = tokenizer.token_to_id(eos_token)
    if token_id is None:
        raise ConfigError(f"{source}: has no token {eos_token!r} (tokenize.eos_token)")
    return token_id


def train_tokenizer(texts: Iterator[str], vocab_size: int, eos_token: str, min_frequency: int = 2):
    """A byte-level BPE (GPT-2 style, lossless on any UTF-8 text) trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[eos_token],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def sample_texts(inputs: str | list[str], max_bytes: int, batch_rows: int = 1024) -> Iterator[str]:
    """The `text` column of every Parquet file under `inputs` (directories, files or globs), the first
    max_bytes / n_files bytes of each: bounded memory, spread over the whole corpus, the same every time."""
    import glob

    import fsspec

    fs, files = None, []
    for url in [inputs] if isinstance(inputs, str) else inputs:
        fs, root = fsspec.core.url_to_fs(url)
        for path in sorted(fs.glob(root)) if glob.has_magic(root) else [root]:
            if fs.isdir(path):
                files += sorted(fs.glob(f"{path.rstrip('/')}/**/*.parquet"))
            elif fs.isfile(path):
                files.append(path)
    if not files:
        raise ConfigError(f"{' '.join([inputs] if isinstance(inputs, str) else inputs)}: no Parquet files to read")
    return _file_texts(fs, files, max(1, max_bytes // len(files)), batch_rows)


def _file_texts(fs, files: list[str], per_file: int, batch_rows: int) -> Iterator[str]:
    import pyarrow.parquet as pq

    for file in files:
        with fs.open(file, "rb") as f:
            pf = pq.ParquetFile(f)
            if "text" not in pf.schema_arrow.names:
                raise ConfigError(f"{file}: has no 'text' column")
            taken = 0
            for batch in pf.iter_batches(batch_size=batch_rows, columns=["text"]):
                for text in batch.column(0).to_pylist():
                    if text:
                        yield text
                        taken += len(text.encode("utf-8"))
                        if taken >= per_file:
                            break
                if taken >= per_file:
                    break


# --- encoding --------------------------------------------------------------------------------------------------

def encode_texts(tokenizer, texts: list[str], eos: int):
    """list<uint32> Arrow array of the texts' token ids, each followed by `eos`. Built from numpy offsets, so
    the only per-token Python work is what `tokenizers` itself does to hand the ids over."""
    import pyarrow as pa

    ids = [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    lengths = np.fromiter(map(len, ids), np.int64, len(ids)) + 1
    offsets = np.zeros(len(ids) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.full(int(offsets[-1]), eos, np.uint32)
    body = np.ones(len(values), bool)
    body[offsets[1:] - 1] = False  # the last slot of each document keeps the EOS
    values[body] = np.fromiter(itertools.chain.from_iterable(ids), np.uint32, int(offsets[-1]) - len(ids))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def id_hash(ids: list[str], seed: int) -> np.ndarray:
    """uint64 xxh64 of each id under `seed`: the order of documents in the shards and their weight draws."""
    import xxhash

    return np.fromiter((xxhash.xxh64_intdigest(i.encode("utf-8"), seed) for i in ids), np.uint64, len(ids))


def copy_counts(ids: list[str], weights: np.ndarray, seed: int, max_copies: int) -> np.ndarray:
    """floor(weight) copies, plus one more with probability frac(weight), drawn from the id's hash so a rerun
    makes the same decision; capped at max_copies. The expected count is the weight."""
    draw = (id_hash(ids, seed ^ 0x5EED) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    whole = np.floor(weights)
    return np.minimum(whole + (draw < weights - whole), max_copies).astype(np.int64)


INPUT_DEFAULTS = {"category": "unknown", "quality": math.nan, "weight": 1.0, "lang": "", "domain": "", "web_type": ""}
PLANNED_DDL = ("id string, text string, text_bytes long, category string, quality float, weight float, "
               "lang string, domain string, web_type string, shuffle_key long")  # plan_copies' output in Spark's words


def plan_copies(batch, config: TokenizeConfig, stats: Stats | None = None):
    """Classified documents in; one row per copy out (ids "X", "X#1", ...), with a seeded `shuffle_key`.

    Needs `id` and `text` or `text_bytes` (UTF-8 length; a sizing pass sends that alone). Missing columns take
    INPUT_DEFAULTS: an unclassified corpus tokenizes as category "unknown", quality NaN, weight 1. Drops, counted
    in `stats`: no id or a weight that is not a finite number >= 0 (malformed_record), empty text (empty_text),
    zero copies drawn (downsampled).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    stats = stats if stats is not None else Stats(stage="tokenize")
    stats.records_in += batch.num_rows
    names, n = batch.schema.names, batch.num_rows
    text = batch.column("text").cast(pa.string()) if "text" in names else pa.nulls(n, pa.string())
    text_bytes = (batch.column("text_bytes").cast(pa.int64()) if "text_bytes" in names
                  else pc.binary_length(text).cast(pa.int64()))
    columns = {"id": batch.column("id").cast(pa.string()), "text": text, "text_bytes": text_bytes}
    for name, default in INPUT_DEFAULTS.items():
        kind = pa.float32() if isinstance(default, float) else pa.string()
        col = batch.column(name).cast(kind) if name in names else pa.nulls(n, kind)
        columns[name] = pc.fill_null(col, pa.scalar(default, kind))
    weight = columns["weight"].to_numpy(zero_copy_only=False).astype(np.float64)
    malformed = pc.is_null(columns["id"]).to_numpy(zero_copy_only=False) | ~np.isfinite(weight) | (weight < 0)
    empty = ~malformed & (pc.fill_null(text_bytes, 0).to_numpy(zero_copy_only=False) == 0)
    for reason, dropped in ((DropReason.MALFORMED_RECORD, malformed), (DropReason.EMPTY_TEXT, empty)):
        if dropped.any():
            stats.drop(reason, int(dropped.sum()))
    keep = np.flatnonzero(~malformed & ~empty)
    id_list = columns["id"].take(keep).to_pylist()
    copies = copy_counts(id_list, weight[keep], config.seed, config.max_copies)
    if (copies == 0).any():
        stats.drop(DOWNSAMPLED, int((copies == 0).sum()))
    stats.records_out += int((copies > 0).sum())
    stats.count("copies_added", int(np.maximum(copies - 1, 0).sum()))

    rows = np.repeat(np.arange(len(keep)), copies)  # output row i is copy k of kept document rows[i]
    copy_index = np.arange(len(rows)) - np.repeat(np.cumsum(copies) - copies, copies)
    out_ids = [f"{id_list[r]}{COPY_SEPARATOR}{k}" if k else id_list[r]
               for r, k in zip(rows.tolist(), copy_index.tolist(), strict=True)]
    if len(rows) == n and (copies == 1).all():  # the usual case: every row kept once, nothing to copy
        out = dict(columns)
    else:
        source = pa.array(keep[rows])
        out = {name: col.take(source) for name, col in columns.items()}
    out["id"] = pa.array(out_ids, pa.string())
    keys = (id_hash(out_ids, config.seed) >> np.uint64(1)).astype(np.int64)  # non-negative int64: Spark sorts it
    out["shuffle_key"] = pa.array(keys, pa.int64())
    return pa.RecordBatch.from_pydict(out), stats


def encode_rows(batch, tokenizer, eos: int):
    """Planned rows (plan_copies' output, any order) → shard rows (pipeline.shards.format.shard_arrow_schema)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from pipeline.shards.format import shard_arrow_schema

    tokens = encode_texts(tokenizer, batch.column("text").to_pylist(), eos)
    arrays = [batch.column("id"), tokens, pc.list_value_length(tokens).cast(pa.int32())]
    arrays += [batch.column(name) for name in INPUT_DEFAULTS]
    return pa.RecordBatch.from_arrays(arrays, schema=shard_arrow_schema())


def tokenize_batch(batch, tokenizer, eos: int, config: TokenizeConfig):
    """plan_copies then encode_rows in one step: (shard rows with `shuffle_key`, Stats with a `tokens` count)."""
    import pyarrow as pa

    planned, stats = plan_copies(batch, config)
    rows = encode_rows(planned, tokenizer, eos)
    stats.count("tokens", int(pa.compute.sum(rows.column("n_tokens")).as_py() or 0))
    return rows.append_column("shuffle_key", planned.column("shuffle_key")), stats


def tokens_per_byte(tokenizer, texts: Iterator[str], max_texts: int = 2000) -> float:
    """Tokens per UTF-8 byte over a sample: sizes shards before any document is tokenized."""
    sample = list(itertools.islice(texts, max_texts))
    n_bytes = sum(len(t.encode("utf-8")) for t in sample)
    n_tokens = sum(len(e.ids) for e in tokenizer.encode_batch_fast(sample, add_special_tokens=False))
    return n_tokens / n_bytes if n_bytes else 0.25
