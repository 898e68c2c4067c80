"""One writer per output: a lock file that a run holds while it writes, naming its owner.

Two runs into one output each remove the other's temporary directories (a run starts by clearing `*.tmp-*` that a
killed run left) and rename over each other's results; the issue's case died with FileNotFoundError on the other
run's `deduped.tmp-*/part-00000.parquet`. So `sluice run` holds `OUTPUT/_run.lock`, and a stage run alone
(`spark-submit jobs/<stage>.py`) holds `<output>.lock` beside its output (the output directory itself is replaced
when the stage commits, so its lock cannot live inside it). A second writer waits up to `wait_s` for the lock,
then stops with one line naming the owner.

The lock is an fcntl lock on the file, not the file's existence: the kernel releases it when its process dies
however it dies (kill -9 included), so a stale lock (its owner's pid gone) is never in the way: the next run takes
it, says whose record it replaces, and writes its own (host, pid, start time, command). Telling staleness by the pid
alone would race: a new holder locks the file a moment before it writes its record, so a live lock can still show a
dead run's pid. Object stores (s3://, gs://) have no locks: there the run goes on with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

log = logging.getLogger("sluice.jobs")

RUN_LOCK = "_run.lock"


class OutputLocked(Exception):
    """Another live process writes this output; the message names it and the lock file (one line)."""


def run_lock_path(output: str) -> str:
    return f"{output.rstrip('/')}/{RUN_LOCK}"


def stage_lock_path(output: str) -> str:
    return f"{output.rstrip('/')}.lock"


def _local_path(url: str) -> str | None:
    if "://" not in url:
        return url
    return url[len("file://"):] if url.startswith("file://") else None


def _owner_record() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "command": " ".join(sys.argv)[:500]}


def _read_owner(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 1 << 16) or b"{}")
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def describe(owner: dict) -> str:
    return (f"pid {owner.get('pid', '?')} on {owner.get('host', '?')} since {owner.get('started', '?')}"
            if owner else "another process")


@contextlib.contextmanager
def output_lock(lock_path: str, what: str, wait_s: float = 0.0, poll_s: float = 0.5) -> Iterator[None]:
    """Hold `lock_path` while the block runs. `what` names the output in the message; OutputLocked when another
    live process holds it for longer than `wait_s` seconds."""
    local = _local_path(lock_path)
    if local is None:
        log.warning("%s: %s cannot be locked (no locks on object stores); make sure one run writes it", what,
                    lock_path)
        yield
        return
    os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
    fd = os.open(local, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise OutputLocked(f"{what} is being written by {describe(_read_owner(fd))} (lock {local}); wait "
                                   "for that run to end, or stop it")
            time.sleep(poll_s)
        stale = _read_owner(fd)
        if stale:  # a run that died holding it (a clean end clears the record)
            gone = stale.get("host") == socket.gethostname() and not _pid_alive(int(stale.get("pid", 0) or 0))
            log.warning("%s: a run that ended without releasing it held the lock (%s%s); taking it", what,
                        describe(stale), ", gone" if gone else "")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_owner_record()) + "\n").encode(), 0)
        os.fsync(fd)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no owner: nobody holds it (the file stays; removing it would race)
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):  # a file system without locks: no lock
            log.warning("lock %s: the file system has no locks (%s); going on without one", fd, e.strerror)
            return True
        raise
    return True
