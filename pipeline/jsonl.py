"""JSON lines, read one way everywhere (labelled crawls, training sets, evaluation sets): blank lines skipped, every
other line one JSON object, and a bad line is an error naming the source and the line number."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator


class JsonLinesError(ValueError):
    """A line that is not a JSON object; the message is `SOURCE:LINE: what is wrong`."""


def json_objects(lines: Iterable[str], source: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of `lines` (from a text file, or a string's splitlines())."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise JsonLinesError(f"{source}:{number}: not valid JSON: {e}") from None
        if not isinstance(row, dict):
            raise JsonLinesError(f"{source}:{number}: not a JSON object")
        yield number, row
