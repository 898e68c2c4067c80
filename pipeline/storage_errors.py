"""Errors of the place written to (disk full, quota, read-only, permission), not of the data or the code: the
user frees space or fixes permissions and reruns. Found behind whatever wraps them: the Spark stages
(jobs/io_errors.py) and the trainer (trainer/train.py) walk the same chain of causes.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable

STORAGE_ERRNOS = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                  errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied",
                  errno.EPERM: "Operation not permitted"}


def storage_error(e: BaseException,
                  held: Callable[[BaseException], Iterable[BaseException]] = lambda x: ()) -> OSError | None:
    """The disk-full, read-only or permission OSError behind `e`: `e` itself, its __cause__/__context__ chain, or
    the exceptions `held(x)` says an exception of that chain holds (a wrapper that collects several), each once."""
    pending, seen = [e], set()
    while pending:
        x = pending.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno in STORAGE_ERRNOS:
            return x
        pending += [c for c in (x.__cause__, x.__context__) if c is not None]
        pending += held(x)
    return None
