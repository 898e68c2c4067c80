"""The [input] table of run.toml: what the input files are and which of their columns hold what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.config import ConfigError, Count

INPUT_FORMATS = ("auto", "warc", "parquet", "jsonl", "arrow")


@dataclass(kw_only=True)
class InputConfig:
    """How `sluice run --input` is read when it is a document corpus; empty column names are found by convention.

    Conventions (pipeline.corpus.columns): FineWeb (text, id, url, date, language, language_score), dolma (id,
    text, source, added, created, metadata.url) and RedPajama (raw_content or text, meta.url, meta.language). A
    dotted name reads a field of a struct or of a JSON-object column (`metadata.url`)."""

    # "auto": every file's kind is read from its first bytes (PAR1, gzip/zstd then JSON or WARC/, Arrow IPC)
    format: Literal["auto", "warc", "parquet", "jsonl", "arrow"] = "auto"
    text: str = ""
    id: str = ""  # empty and no id column: a stable id from the file name, row number and text
    url: str = ""
    lang: str = ""  # a language column (FineWeb's `language`): language id is then not run on those documents
    lang_score: str = ""
    date: str = ""  # goes into fetch_time
    # extra columns carried into documents/ (and on through the stages that keep their input's columns);
    # ["*"] = every column the map above did not use; [] = none
    carry: list[str] = field(default_factory=list)
    min_chars: Count = 1  # a document whose text is shorter is dropped as empty_text

    def __post_init__(self) -> None:
        if self.format not in INPUT_FORMATS:
            raise ConfigError(f"input.format must be one of {', '.join(INPUT_FORMATS)}, got {self.format!r}")
        if self.min_chars < 1:
            raise ConfigError(f"input.min_chars must be >= 1, got {self.min_chars}")
