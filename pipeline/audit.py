"""Dropped documents you can look at: per stage, the first `keep_dropped` documents of each drop reason, with the
rule that dropped them, the value it measured where the stage knows it, and the head of the text.

Each task keeps its own sample (`DroppedSample`) and writes `_dropped/part-NNNNN.parquet` into the stage's temporary
output; the driver then keeps the first `keep_dropped` per reason over the parts in name order (`merge_dropped`),
so the sample is the same on every run and cluster layout. The `_` prefix keeps Parquet readers of the stage
output (Spark, pyarrow.dataset, the next stage) off it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pipeline.config import AutoCount, ConfigError

DROPPED_DIR = "_dropped"
DROPPED_FILE = "dropped.parquet"


@dataclass(kw_only=True)
class AuditConfig:
    """The [audit] table of run.toml."""

    keep_dropped: AutoCount = 200  # documents kept per drop reason and stage; 0 = keep none
    text_chars: AutoCount = 2_000  # of each kept document's text

    def __post_init__(self) -> None:
        if self.keep_dropped < 0:
            raise ConfigError(f"audit.keep_dropped must be >= 0, got {self.keep_dropped}")
        if self.text_chars < 0:
            raise ConfigError(f"audit.text_chars must be >= 0, got {self.text_chars}")


def dropped_schema():
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("url", pa.string()), ("reason", pa.string()), ("rule", pa.string()),
                      ("value", pa.float64()), ("text", pa.string())])


class DroppedSample:
    """The first `config.keep_dropped` documents dropped per reason, in the order they were dropped."""

    def __init__(self, config: AuditConfig | None = None) -> None:
        self.config = config or AuditConfig()
        self.rows: list[dict] = []
        self._per_reason: Counter = Counter()

    def add(self, reason: str, rule: str | None, doc_id: str, url: str, text: str, value: float | None = None) -> None:
        if self._per_reason[reason] >= self.config.keep_dropped:
            return
        self._per_reason[reason] += 1
        self.rows.append({"id": doc_id, "url": url, "reason": reason, "rule": rule or reason,
                          "value": None if value is None else float(value), "text": text[: self.config.text_chars]})

    def write(self, output: str, part: int) -> None:
        """OUTPUT/_dropped/part-NNNNN.parquet, when anything was kept."""
        if not self.rows:
            return
        import fsspec
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, path = fsspec.core.url_to_fs(output)
        fs.makedirs(f"{path}/{DROPPED_DIR}", exist_ok=True)
        with fs.open(f"{path}/{DROPPED_DIR}/part-{part:05d}.parquet", "wb") as f:
            pq.write_table(pa.Table.from_pylist(self.rows, schema=dropped_schema()), f, compression="zstd")


def merge_dropped(output: str, config: AuditConfig) -> int:
    """The task parts under OUTPUT/_dropped/ → one `dropped.parquet` keeping the first keep_dropped per reason (parts
    in name order, rows in their order); returns the rows kept."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, path = fsspec.core.url_to_fs(output)
    folder = f"{path}/{DROPPED_DIR}"
    if not fs.isdir(folder):
        return 0
    parts = sorted(p for p in fs.ls(folder, detail=False) if p.rsplit("/", 1)[-1].startswith("part-"))
    sample = DroppedSample(AuditConfig(keep_dropped=config.keep_dropped, text_chars=config.text_chars))
    for part in parts:
        with fs.open(part, "rb") as f:
            for row in pq.read_table(f).to_pylist():
                sample.add(row["reason"], row["rule"], row["id"], row["url"], row["text"], row["value"])
        fs.rm(part)
    with fs.open(f"{folder}/{DROPPED_FILE}", "wb") as f:
        pq.write_table(pa.Table.from_pylist(sample.rows, schema=dropped_schema()), f, compression="zstd")
    return len(sample.rows)


def read_dropped(stage_output: str) -> list[dict]:
    """The sample a stage output kept (old outputs without one: [])."""
    import fsspec
    import pyarrow.parquet as pq

    fs, path = fsspec.core.url_to_fs(stage_output)
    file = f"{path}/{DROPPED_DIR}/{DROPPED_FILE}"
    if not fs.exists(file):
        return []
    with fs.open(file, "rb") as f:
        return pq.read_table(f).to_pylist()
