"""Evaluation sets for decontamination: files found by path or fsspec glob, items read from JSON lines or Parquet.

Any problem with a set (a pattern that matches nothing, an unreadable or malformed file, a field that no row
has) is an `EvalSetError` with one line naming the set and the file, raised on the driver before any task runs.
Each set gets a content hash, which the run's manifest records with each file's own sha256 (what `sha256sum` prints):
the set's sha256 runs over every file's 8-byte little-endian length and then its bytes, in path order (the lengths
keep "ab" + "c" apart from "a" + "bc").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pipeline.decontaminate.ngrams import EvalSetConfig


class EvalSetError(ValueError):
    """An evaluation set cannot be used; the message names the set and the file."""


@dataclass
class EvalSet:
    name: str
    files: list[str]
    sha256: str
    texts: list[str]
    file_sha256: list[str]

    def record(self, ngrams: int) -> dict:
        """What the manifest says about this set: enough to tell which version of it the corpus was checked against."""
        return {"name": self.name, "files": [f.rsplit("/", 1)[-1] for f in self.files], "sha256": self.sha256,
                "file_sha256": self.file_sha256, "items": len(self.texts), "ngrams": ngrams}


def expand(config: EvalSetConfig) -> tuple[object, list[str]]:
    import fsspec

    files: list[str] = []
    fs = None
    for pattern in config.paths:
        try:
            fs, _, found = fsspec.get_fs_token_paths(pattern)
        except (OSError, ValueError, ImportError) as e:
            raise EvalSetError(f"evaluation set {config.name!r}: cannot open {pattern}: {e}") from None
        found = [f for f in found if fs.isfile(f)]
        if not found:
            raise EvalSetError(f"evaluation set {config.name!r}: no file matches {pattern}")
        files += found
    return fs, sorted(set(files))


def _item_text(row: dict, fields: list[str]) -> str | None:
    parts = []
    for name in fields:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            parts += [str(v) for v in value if v is not None]
        elif isinstance(value, dict):
            parts += [str(v) for v in value.values() if v is not None]
        else:
            parts.append(str(value))
    return " ".join(parts) if parts else None


def _rows(fs, path: str, data: bytes, name: str):
    lower = path.lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        if lower.endswith(suffix):
            import fsspec

            with fsspec.open(path, "rb", compression="infer") as f:  # decompress through fsspec's codecs
                data = f.read()
            lower = lower[: -len(suffix)]
            break
    if lower.endswith(".parquet"):
        import io

        import pyarrow.parquet as pq

        try:
            yield from pq.read_table(io.BytesIO(data)).to_pylist()
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise EvalSetError(f"evaluation set {name!r}: {path}: not a readable Parquet file ({e})") from None
    elif lower.endswith((".jsonl", ".json", ".ndjson")):
        from pipeline.jsonl import JsonLinesError, json_objects

        try:
            for _, row in json_objects(data.decode("utf-8", errors="replace").splitlines(), path):
                yield row
        except JsonLinesError as e:
            raise EvalSetError(f"evaluation set {name!r}: {e}") from None
    else:
        raise EvalSetError(f"evaluation set {name!r}: {path}: unknown format (expected .jsonl, .json or .parquet, "
                           "optionally compressed)")


def load_eval_set(config: EvalSetConfig) -> EvalSet:
    fs, files = expand(config)
    digest = hashlib.sha256()
    texts: list[str] = []
    file_digests: list[str] = []
    for path in files:
        try:
            with fs.open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise EvalSetError(f"evaluation set {config.name!r}: cannot read {path}: {e}") from None
        digest.update(len(data).to_bytes(8, "little") + data)
        file_digests.append(hashlib.sha256(data).hexdigest())
        before = len(texts)
        rows = 0
        for row in _rows(fs, path, data, config.name):
            rows += 1
            text = _item_text(row, config.fields)
            if text:
                texts.append(text)
        if rows and len(texts) == before:
            raise EvalSetError(f"evaluation set {config.name!r}: {path}: no row has any of the fields "
                               f"{', '.join(config.fields)}")
    return EvalSet(config.name, files, digest.hexdigest(), texts, file_digests)


def eval_set_digests(configs: list[EvalSetConfig]) -> str:
    """The sets' content hashes as one JSON string: what a run hashes to notice that an evaluation set changed."""
    return json.dumps({c.name: load_eval_set(c).sha256 for c in configs}, sort_keys=True)
