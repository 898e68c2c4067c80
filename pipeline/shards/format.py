"""Tokenized Parquet shards: the format (schema, names, manifest), shared by the writer (pipeline/shards/writer.py)
and the one reader everybody uses, the trainer included (pipeline/shards/reader.py).

A shard directory holds `shard-00000.parquet`, `shard-00001.parquet`, ..., `tokenizer.json` and `manifest.json`
(written last). One row per document, not packed: `id`, `tokens` (list<uint32>, EOS last), `n_tokens`,
`category`, `quality`, `weight`, `lang`, `domain`. Rows are in a seeded shuffled order. The manifest lists every
shard with its rows, tokens, bytes, sha256 and row-group sizes, plus the tokenizer and the run's configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

FORMAT = "sluice.shards"
FORMAT_VERSION = 1
# Sidecars start with "_": Parquet readers (pyarrow.dataset, pandas, Spark, HF datasets) skip such files, so a shard
# folder reads as a dataset as it is. Folders written before keep the old names, which are still read.
MANIFEST = "_manifest.json"
TOKENIZER_FILE = "_tokenizer.json"
LEGACY_NAMES = {MANIFEST: "manifest.json", TOKENIZER_FILE: "tokenizer.json"}
DICTIONARY_COLUMNS = ["category", "lang", "domain", "web_type"]


class ShardError(ValueError):
    """A shard directory disagrees with its manifest or holds a damaged file; the message names the file."""


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.parquet"


def shard_arrow_schema():
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("tokens", pa.list_(pa.uint32())), ("n_tokens", pa.int32()),
                      ("category", pa.string()), ("quality", pa.float32()), ("weight", pa.float32()),
                      ("lang", pa.string()), ("domain", pa.string()), ("web_type", pa.string())])


def row_bytes(n_tokens: np.ndarray) -> np.ndarray:
    """What a row counts toward shard and row-group sizes: its token bytes plus a little for the other columns."""
    return 4 * np.asarray(n_tokens, np.int64) + 64


@dataclass
class ShardInfo:
    file: str
    rows: int = 0
    tokens: int = 0
    bytes: int = 0
    sha256: str = ""
    row_groups: list[int] = field(default_factory=list)


def build_manifest(shards: list[ShardInfo], tokenizer: dict, config: dict, config_hash: str) -> dict:
    """The manifest as a dict; no timestamps, so the same input and config give the same manifest bytes."""
    schema = shard_arrow_schema()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "documents": sum(s.rows for s in shards),
        "tokens": sum(s.tokens for s in shards),
        "bytes": sum(s.bytes for s in shards),
        "schema": {f.name: str(f.type) for f in schema},
        "tokenizer": tokenizer,
        "config_hash": config_hash,
        "config": config,
        "shards": [asdict(s) for s in sorted(shards, key=lambda s: s.file)],
    }


def manifest_json(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def sidecar_path(fs, root: str, name: str) -> str:
    """ROOT/name, or ROOT/<its old name> when only that exists (a shard folder written before the rename)."""
    path = f"{root}/{name}"
    legacy = f"{root}/{LEGACY_NAMES.get(name, name)}"
    return legacy if legacy != path and not fs.exists(path) and fs.exists(legacy) else path


def read_manifest(fs, root: str) -> dict:
    """_manifest.json (or the old manifest.json) of a shard directory, checked for shape; ShardError naming it
    otherwise."""
    path = sidecar_path(fs, root, MANIFEST)
    try:
        with fs.open(path, "r", encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise ShardError(f"{path}: missing (not a shard directory, or the tokenize job did not finish)") from None
    except NotADirectoryError:
        raise ShardError(f"{root}: is a file, not a shard directory") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ShardError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:  # permission, I/O error: one line naming the file, like every other shard problem
        raise ShardError(f"{path}: cannot read ({e.strerror or e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{path}: not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{path}: format_version {manifest.get('format_version')!r}; this reader knows "
                         f"{FORMAT_VERSION}")
    try:
        for s in manifest["shards"]:
            well_formed = (isinstance(s["file"], str) and "/" not in s["file"] and isinstance(s["bytes"], int)
                           and isinstance(s["sha256"], str) and sum(s["row_groups"]) == s["rows"])
            if not well_formed:
                raise ValueError(f"bad entry for {s['file']!r}")
    except (KeyError, TypeError, ValueError) as e:
        raise ShardError(f"{path}: malformed shard list ({e})") from None
    files = [s["file"] for s in manifest["shards"]]
    if len(set(files)) != len(files):
        twice = next(f for f in files if files.count(f) > 1)
        raise ShardError(f"{path}: lists {twice} more than once (its documents would be read twice)")
    _check_tokenizer_record(manifest.get("tokenizer"), path)
    for total, key in (("documents", "rows"), ("tokens", "tokens"), ("bytes", "bytes")):
        summed = sum(s.get(key, 0) for s in manifest["shards"])
        if manifest.get(total) != summed:
            raise ShardError(f"{path}: says {total} = {manifest.get(total)!r}, its shards add up to {summed} "
                             f"(the manifest was edited or damaged)")
    return manifest


def _check_tokenizer_record(info, path: str) -> None:
    """The manifest's tokenizer entry: a vocabulary of at least one id, an EOS id inside it."""
    if info is None:
        return
    if not isinstance(info, dict):
        raise ShardError(f"{path}: tokenizer is {info!r}, not a table")
    vocab, eos = info.get("vocab_size"), info.get("eos_id")
    for key, value in (("vocab_size", vocab), ("eos_id", eos)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ShardError(f"{path}: tokenizer.{key} is {value!r}, not an integer")
    if vocab is not None and vocab < 1:
        raise ShardError(f"{path}: tokenizer.vocab_size is {vocab}")
    if eos is not None and not 0 <= eos < (vocab if vocab is not None else eos + 1):
        raise ShardError(f"{path}: tokenizer.eos_id {eos} is outside the vocabulary of {vocab}")


def tokenizer_vocab_size(tokenizer_json: str) -> int | None:
    """How many ids a tokenizer.json's model vocabulary and added tokens use (what `Tokenizer.get_vocab_size()`
    says), read as JSON; None for a model whose vocabulary is not a table or list."""
    data = json.loads(tokenizer_json)
    vocab = (data.get("model") or {}).get("vocab")
    if isinstance(vocab, dict):
        ids = set(vocab.values())
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...], ids are positions
        ids = set(range(len(vocab)))
    else:
        return None
    return len(ids | {t.get("id") for t in data.get("added_tokens") or []})


def tokenizer_eos_id(tokenizer_json: str, eos_token: str) -> int | None:
    """The id of `eos_token` in a tokenizer.json's text, read as JSON (no `tokenizers` needed): an added
    (special) token, else a model vocabulary entry."""
    data = json.loads(tokenizer_json)
    for token in data.get("added_tokens") or []:
        if token.get("content") == eos_token:
            return token.get("id")
    vocab = (data.get("model") or {}).get("vocab")
    return vocab.get(eos_token) if isinstance(vocab, dict) else None


def file_sha256(path, fs=None, chunk: int = 8 << 20) -> str:
    """Hex sha256 of a file: a local path, or a path on the fsspec filesystem `fs`."""
    digest = hashlib.sha256()
    with open(path, "rb") if fs is None else fs.open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
