"""Input patterns (files, globs, directories, URLs of any fsspec file system) -> the files they name, shared by the
WARC reader (pipeline/warc/reader.py) and the document corpus (pipeline/corpus/detect.py), which differ only in
what a matched directory holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import fsspec

_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_patterns(patterns: list[str] | str, files_at: Callable[[object, str], list[str]]) -> list[str]:
    """The sorted, de-duplicated files the patterns match: each glob match or existing path goes through
    `files_at(fs, path)` (the files it stands for: itself, or a directory's data files); a pattern that leaves none
    is an error naming it. Files keep their URL's protocol when the pattern had one."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: set[str] = set()
    unmatched = []
    for pattern in patterns:
        fs, path = fsspec.core.url_to_fs(pattern)
        paths = fs.glob(path) if _GLOB_CHARS.search(path) else ([path] if fs.exists(path) else [])
        matches = [f for p in paths for f in files_at(fs, p)]
        if not matches:
            unmatched.append(pattern)
        found.update(fs.unstrip_protocol(p) if "://" in pattern else p for p in matches)
    if unmatched:
        raise FileNotFoundError(f"no input file matches: {', '.join(unmatched)}")
    return sorted(found)
