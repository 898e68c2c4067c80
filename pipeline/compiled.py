"""numba, set up once for every compiled loop of the pipeline (MinHash, block features, tree scoring).

Imported lazily, by the modules that hold kernels: numba is heavy. Compiled code is cached on disk (`cache=True`,
~0.3 s to load instead of ~1-2 s to compile), next to the kernel's source when that folder is writable, else in a temp
folder (read-only installs, Spark executors). Where numba cannot cache at all (sources inside a zip on the Python
path and no writable cache folder), a kernel compiles without a cache rather than failing.
"""

from __future__ import annotations

import os
import stat
import tempfile


def private_dir(path: str) -> bool:
    """Whether `path` is (now) a directory only this user can write. numba's cache files are pickles that numba
    loads, so a cache folder another local user could write to (or pre-create: a predictable name in a shared
    /tmp) would let them run code as this user."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def prepare_cache_dir() -> None:
    """Give numba a writable cache directory before it reads its configuration (at import)."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.access(os.path.dirname(os.path.abspath(__file__)), os.W_OK):
        return
    path = os.path.join(tempfile.gettempdir(), f"sluice-numba-cache-{os.getuid()}")
    if not private_dir(path):  # someone else's, or open to others: a fresh private one (no reuse, no planted code)
        path = tempfile.mkdtemp(prefix="sluice-numba-cache-")
    os.environ["NUMBA_CACHE_DIR"] = path


prepare_cache_dir()

import numba  # noqa: E402


def jit(**options):
    """numba.njit(nogil=True, **options), cached on disk where numba can cache."""
    def wrap(fn):
        try:
            return numba.njit(cache=True, nogil=True, **options)(fn)
        except (RuntimeError, OSError):  # no cache locator or no writable cache directory
            return numba.njit(cache=False, nogil=True, **options)(fn)
    return wrap
