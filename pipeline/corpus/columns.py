"""Which column of a corpus holds the text, id, url, language...: the [input] names, else the first convention found.

Conventions known: FineWeb (`text, id, url, date, language, language_score, token_count`), dolma (`id, text,
source, added, created, metadata{url,...}`), RedPajama (`raw_content` or `text`, `meta{url, language,...}`).
A dotted name (`meta.url`) reads a field of a struct column or of a column holding a JSON object (RedPajama writes
`meta` either way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.corpus.config import InputConfig
from pipeline.corpus.detect import InputFormatError

CONVENTIONS: dict[str, tuple[str, ...]] = {
    "text": ("text", "raw_content", "content"),
    "id": ("id", "doc_id"),
    "url": ("url", "metadata.url", "meta.url"),
    "lang": ("language", "lang", "meta.language", "metadata.language", "metadata.lang"),
    "lang_score": ("language_score", "lang_score", "meta.language_score", "metadata.language_score"),
    "date": ("date", "fetch_time", "created", "meta.timestamp", "added"),
}


@dataclass(frozen=True)
class ColumnMap:
    """Document field → source column (dotted for a nested field); a field absent from the corpus is not a key."""

    fields: dict[str, str]
    carried: tuple[str, ...]  # source columns copied into the output as they are

    @property
    def source_columns(self) -> list[str]:
        """The top-level columns to read."""
        names = {name.split(".", 1)[0] for name in self.fields.values()} | set(self.carried)
        return sorted(names)

    def value(self, row: dict, field: str):
        name = self.fields.get(field)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        value = row.get(head)
        if not rest or value is None:
            return value
        return nested(value, rest)


def nested(value, path: str):
    """`path` (a.b) inside a dict or a JSON-object string; None when it is not there."""
    for part in path.split("."):
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def resolve_columns(available: dict[str, set[str] | None], config: InputConfig, source: str) -> ColumnMap:
    """The ColumnMap for a file whose columns are `available` (name → its sub-field names, or None when it has
    none we can see). InputFormatError naming the file when no text column is found or a named one is missing."""
    fields: dict[str, str] = {}
    for field, candidates in CONVENTIONS.items():
        configured = getattr(config, field)
        if configured:
            if not _present(configured, available, strict=False):
                raise InputFormatError(f"{source}: input.{field} = {configured!r}, but it has no such column "
                                       f"(columns: {', '.join(sorted(available))})")
            fields[field] = configured
            continue
        found = next((c for c in candidates if _present(c, available, strict=True)), None)
        if found is not None:
            fields[field] = found
    if "text" not in fields:
        raise InputFormatError(f"{source}: no text column (looked for {', '.join(CONVENTIONS['text'])}; columns: "
                               f"{', '.join(sorted(available))}); name it with input.text")
    used = {name.split(".", 1)[0] for name in fields.values()}
    if config.carry == ["*"]:
        carried = tuple(c for c in sorted(available) if c not in used)
    else:
        missing = [c for c in config.carry if c not in available]
        if missing:
            raise InputFormatError(f"{source}: input.carry names column(s) it lacks: {', '.join(missing)}")
        carried = tuple(c for c in config.carry if c not in used)
    return ColumnMap(fields, carried)


def _present(name: str, available: dict[str, set[str] | None], strict: bool) -> bool:
    head, _, rest = name.partition(".")
    if head not in available:
        return False
    if not rest:
        return True
    sub = available[head]
    if sub is None:
        return not strict  # a column we cannot look into: trust a name the user gave, never a guess
    return rest.split(".", 1)[0] in sub


def arrow_columns(schema) -> dict[str, set[str] | None]:
    """Columns of an Arrow schema with the field names of struct columns."""
    import pyarrow as pa

    return {f.name: ({c.name for c in f.type} if pa.types.is_struct(f.type) else None) for f in schema}


def row_columns(row: dict) -> dict[str, set[str] | None]:
    """Columns of a JSON row, with the keys of object values (also of strings holding a JSON object)."""
    out: dict[str, set[str] | None] = {}
    for name, value in row.items():
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[name] = set(value) if isinstance(value, dict) else None
    return out
