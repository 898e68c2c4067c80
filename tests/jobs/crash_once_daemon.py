"""A PySpark daemon whose Python workers die once in the middle of a task: the fault of test_faults.

Spark starts it instead of `pyspark.daemon` when `spark.python.daemon.module` names it. SLUICE_CRASH_ONCE lists
`module:function` targets (comma-separated) and SLUICE_CRASH_DIR is a directory for markers. When a forked worker
imports a target module, the function is wrapped; the first call in the whole run (the worker that creates the
target's marker file, O_EXCL, wins) ends its process with os._exit as a killed executor process would: a function
returning an iterator dies after yielding SLUICE_CRASH_AFTER items (default 2), any other dies before returning.
Every later call runs unchanged, so the retry Spark schedules succeeds.

Only the daemon imports this module: the driver and the code under test never see it.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys

CRASH_EXIT_CODE = 77  # shows in Spark's "Python worker exited unexpectedly" message


def _claim(marker: str) -> bool:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    return True


def _die_after(items, count: int):
    for i, item in enumerate(items):
        if i == count:
            break
        yield item
    os._exit(CRASH_EXIT_CODE)


def crash_once(function, marker: str, after: int):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        if not _claim(marker):
            return result
        if hasattr(result, "__next__"):
            return _die_after(result, after)
        os._exit(CRASH_EXIT_CODE)

    return wrapper


class WrapOnImport(importlib.abc.MetaPathFinder):
    """Finds target modules with the normal path finder and wraps their functions once they have executed."""

    def __init__(self, targets: dict[str, list[str]], marker_dir: str, after: int):
        self.targets, self.marker_dir, self.after = targets, marker_dir, after

    def find_spec(self, name, path, target=None):
        if name not in self.targets:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            for function in self.targets[name]:
                marker = os.path.join(self.marker_dir, f"{name}.{function}")
                setattr(module, function, crash_once(getattr(module, function), marker, self.after))

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    targets: dict[str, list[str]] = {}
    for entry in filter(None, os.environ.get("SLUICE_CRASH_ONCE", "").split(",")):
        module, function = entry.strip().split(":")
        targets.setdefault(module, []).append(function)
    if targets:  # nothing is imported here: the daemon must not start threads before it forks
        sys.meta_path.insert(0, WrapOnImport(targets, os.environ["SLUICE_CRASH_DIR"],
                                             int(os.environ.get("SLUICE_CRASH_AFTER", "2"))))


if __name__ == "__main__":
    install()
    from pyspark.daemon import manager

    manager()
