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
MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
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


def read_manifest(fs, root: str) -> dict:
    """manifest.json of a shard directory, checked for shape; ShardError naming it otherwise."""
    path = f"{root}/{MANIFEST}"
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
    for total, key in (("documents", "rows"), ("tokens", "tokens"), ("bytes", "bytes")):
        summed = sum(s.get(key, 0) for s in manifest["shards"])
        if manifest.get(total) != summed:
            raise ShardError(f"{path}: says {total} = {manifest.get(total)!r}, its shards add up to {summed} "
                             f"(the manifest was edited or damaged)")
    return manifest


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
