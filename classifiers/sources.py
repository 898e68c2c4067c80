"""Reading labelled sets: Parquet or JSONL files with a text field, or plain text with one document a line.

SRC is a path, a directory, or a glob, local or any fsspec URL (s3://bucket/pos/*.parquet).
"""

from __future__ import annotations

from classifiers.fasttext_model import TrainingError
from pipeline.jsonl import JsonLinesError, json_objects


def expand(src: str) -> list[str]:
    """Files named by `src`, sorted, as full URLs; a directory means every data file in it."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(src)
    if fs.isdir(path):
        paths = [p for p in fs.find(path) if not p.rsplit("/", 1)[-1].startswith(("_", "."))]
    else:
        paths = fs.glob(path) if any(ch in path for ch in "*?[") else ([path] if fs.exists(path) else [])
    if not paths:
        raise TrainingError(f"{src}: no input files found")
    return [fs.unstrip_protocol(p) for p in sorted(paths)]


def read_records(src: str, columns: list[str], limit: int | None = None) -> list[dict]:
    """Rows with `columns` from every file of `src`; plain-text files give {"text": line}."""
    rows: list[dict] = []
    for url in expand(src):
        rows.extend(_read_file(url, columns))
        if limit is not None and len(rows) >= limit:
            return rows[:limit]
    return rows


def read_texts(src: str, column: str = "text", limit: int | None = None) -> list[str]:
    return [r[column] for r in read_records(src, [column], limit)]


def _read_file(url: str, columns: list[str]) -> list[dict]:
    import fsspec

    name = url.rsplit("/", 1)[-1].lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fsspec.open(url, "rb") as f:
            schema = pq.read_schema(f)
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise TrainingError(f"{url}: no column {missing[0]!r} (columns: {', '.join(schema.names)})")
            f.seek(0)
            table = pq.read_table(f, columns=columns)
        return [r for r in table.to_pylist() if all(isinstance(r[c], str) and r[c].strip() for c in columns)]
    compression = "infer" if name.endswith((".gz", ".zst", ".bz2", ".xz")) else None
    rows = []
    is_json = ".jsonl" in name or ".json" in name
    if not is_json and columns != ["text"]:
        raise TrainingError(f"{url}: plain text has no column {columns[-1]!r}; use JSONL or Parquet")
    with fsspec.open(url, "rt", encoding="utf-8", compression=compression) as f:
        if not is_json:
            return [{"text": line.rstrip("\n")} for line in f if line.strip()]
        try:
            for line_no, record in json_objects(f, url):
                missing = [c for c in columns if c not in record]
                if missing:
                    raise TrainingError(f"{url}:{line_no}: no field {missing[0]!r}")
                if all(isinstance(record[c], str) and record[c].strip() for c in columns):
                    rows.append({c: record[c] for c in columns})
        except JsonLinesError as e:
            raise TrainingError(str(e)) from None
    return rows
