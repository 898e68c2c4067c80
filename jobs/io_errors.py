"""Disk full, read-only or permission denied while a stage writes: one line naming the path and the stage.

Such an error reaches the driver three ways: an OSError from the driver's own writes (a temporary directory, the
stats, _SUCCESS, a tokenizer), the same wrapped by torch or pyarrow, or, from a Spark task, only as text: a
Py4JJavaError or PythonException whose message holds the task's traceback ("OSError: [Errno 28] No space left on
device: '/out/documents.tmp-1/part-00003.parquet'"). Each gives the same line; the stage's temporary directory is
removed where the file system lets it, else by the next run (jobs.base.remove_stale_temp_outputs), and nothing is
marked complete (_SUCCESS is written last).
"""

from __future__ import annotations

import re

from pipeline.storage_errors import STORAGE_ERRNOS, storage_error

_IN_TEXT = re.compile(r"\[Errno (\d+)\] ([^:\n]+?)(?:: '([^'\n]+)')?$", re.M)
_STRERROR_IN_TEXT = re.compile("(" + "|".join(map(re.escape, STORAGE_ERRNOS.values())) + ")")
_PATH_IN_TEXT = re.compile(r"'(/[^'\n]+)'|(?:file|path|directory) (/\S+)")


def find_io_error(e: BaseException) -> tuple[str, str] | None:
    """(path or "", strerror) of the disk-full, read-only or permission error behind `e`, if there is one."""
    x = storage_error(e)
    if x is not None:
        return str(x.filename or ""), x.strerror or STORAGE_ERRNOS[x.errno]
    text = _exception_text(e)
    for m in _IN_TEXT.finditer(text):  # the task's own traceback, passed on as text by Spark
        if int(m.group(1)) in STORAGE_ERRNOS:
            return m.group(3) or "", m.group(2)
    m = _STRERROR_IN_TEXT.search(text)  # e.g. pyarrow: "IOError: error writing to '/x': No space left on device"
    if m:
        near = _PATH_IN_TEXT.search(text[max(0, m.start() - 400) : m.end() + 400])
        return (near.group(1) or near.group(2) if near else ""), m.group(1)
    return None


def io_error_line(e: BaseException, stage: str, output: str) -> str | None:
    """The one line to print for `e` in `stage` writing `output`, or None when `e` is not such an error."""
    found = find_io_error(e)
    if found is None:
        return None
    path, reason = found
    return (f"{stage}: cannot write {path or output}: {reason}; nothing was marked complete (a rerun removes the "
            "temporary files)")


def _exception_text(e: BaseException) -> str:
    parts = [str(e)]
    java = getattr(e, "java_exception", None)  # py4j: the Java side's message holds the Python worker's traceback
    if java is not None:
        try:
            parts.append(str(java.toString()))
        except Exception:  # noqa: BLE001 - the gateway may be gone; str(e) then has to do
            pass
    return "\n".join(parts)
