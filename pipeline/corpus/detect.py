"""What an input file is, from its first bytes, never its name: a `corpus.parquet` that is really a WARC (or the
reverse) is named in one line instead of being read as the wrong thing.

Kinds: "parquet" (PAR1), "arrow" (Arrow IPC file or stream, what `datasets.save_to_disk` writes), "jsonl" (a JSON
object first, plain, gzip or zstd), "warc" (WARC/1.x or an ARC `filedesc://` header, plain or gzip).
"""

from __future__ import annotations

import io

import fsspec

from pipeline.config import ConfigError
from pipeline.input_files import expand_patterns

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HEAD = 4096
DOCUMENT_KINDS = ("parquet", "jsonl", "arrow")
# Files of a dataset folder that are not data: cards, Hugging Face metadata, our own sidecars.
_DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst",
                  ".arrow", ".warc", ".warc.gz", ".arc", ".arc.gz")
_METADATA_NAMES = ("dataset_info.json", "state.json", "dataset_dict.json", "dataset_infos.json")


class InputFormatError(ConfigError):
    """An input is not what the config says, or not a kind Sluice reads; the message names the file."""


def compression(head: bytes) -> str | None:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def open_decompressed(f, codec: str | None):
    """A binary stream of `f`'s content, undoing gzip or zstd (pyarrow's codecs: no extra dependency)."""
    if codec is None:
        return f
    import pyarrow as pa

    return io.BufferedReader(pa.CompressedInputStream(pa.PythonFile(f, mode="r"), codec))


def kind_of_bytes(head: bytes, inner: bytes = b"") -> str | None:
    """The kind of a file starting with `head` (`inner`: its first decompressed bytes, when compressed); "empty"
    for a file without bytes, which any reader reads as no records."""
    if not head:
        return "empty"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    body = inner if compression(head) else head
    text = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"WARC/") or text.startswith(b"filedesc://"):
        return "warc"
    if text.startswith(b"{"):
        return "jsonl"
    return None


def detect_kind(url: str) -> str | None:
    """The kind of the file at `url` from its first bytes; None when it is none Sluice reads."""
    with fsspec.open(url, "rb") as f:
        head = f.read(_HEAD)
        inner = b""
        codec = compression(head)
        if codec:
            f.seek(0)
            try:
                inner = open_decompressed(f, codec).read(_HEAD)
            except OSError:
                inner = b""
    return kind_of_bytes(head, inner)


def is_data_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.lower().endswith(_DATA_SUFFIXES) and name not in _METADATA_NAMES


def input_kind(files: list[str], configured: str = "auto") -> str:
    """"warc" or "documents" for the whole input; InputFormatError naming a file that does not fit.

    With a configured format every file must be of it (a WARC given as Parquet is one clear line); with "auto"
    they must all be WARC or all be documents."""
    kinds = {}
    for url in files:
        try:
            kind = detect_kind(url)
        except OSError:  # vanished or unreadable since it was listed: the stage counts it as missing_input
            continue
        if kind is None:
            expected = f"a {configured} file" if configured != "auto" else "WARC, Parquet, JSON lines or Arrow"
            raise InputFormatError(f"{url}: not {expected} (its first bytes are none of these)")
        if kind == "empty":  # says nothing about the others
            continue
        if configured != "auto" and kind != configured:
            raise InputFormatError(f"{url}: is a {_NAMES[kind]} file, but input.format = {configured!r}; "
                                   f"set input.format = {kind!r} or \"auto\"")
        kinds[url] = "warc" if kind == "warc" else "documents"
    found = set(kinds.values())
    if len(found) > 1:
        warc = next(u for u, k in kinds.items() if k == "warc")
        doc = next(u for u, k in kinds.items() if k == "documents")
        raise InputFormatError(f"--input mixes WARC files ({warc}) and document files ({doc}); run them separately")
    return found.pop() if found else "warc"


_NAMES = {"parquet": "Parquet", "jsonl": "JSON lines", "arrow": "Arrow", "warc": "WARC/ARC"}


def expand_corpus(patterns: list[str]) -> list[str]:
    """Files, globs, directories (a Hugging Face dataset folder: its data files, found recursively; cards, metadata
    and `_`/`.` files left out) or URLs → the sorted list of files; FileNotFoundError naming what matched nothing."""

    def files_at(fs, path: str) -> list[str]:
        if not fs.isdir(path):
            return [path]
        return [f for f in sorted(fs.find(path)) if is_data_file(f)
                and not any(part.startswith(("_", ".")) for part in f[len(path):].split("/") if part)]

    return expand_patterns(patterns, files_at)
