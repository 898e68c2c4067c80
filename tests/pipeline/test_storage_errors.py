"""The storage error behind wrappers: the cause/context chain, exceptions a wrapper holds, cycles walked once."""

from __future__ import annotations

import errno

from pipeline.storage_errors import storage_error


def test_the_storage_error_behind_causes_contexts_and_held_exceptions():
    full = OSError(errno.ENOSPC, "No space left on device", "/out/x")
    try:
        try:
            raise full
        except OSError:
            raise RuntimeError("writing failed")  # noqa: B904 - the context chain is what is walked
    except RuntimeError as e:
        assert storage_error(e) is full

    class Collected(Exception):
        def __init__(self, *held):
            self.held = held

    wrapper = Collected(ValueError("other rank"), full)
    assert storage_error(wrapper) is None  # held exceptions count only when `held` names them
    assert storage_error(wrapper, held=lambda x: getattr(x, "held", ())) is full


def test_other_errors_and_cycles():
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert storage_error(a) is None
    assert storage_error(OSError(errno.ENOENT, "No such file or directory")) is None
    assert storage_error(PermissionError(errno.EACCES, "Permission denied")).errno == errno.EACCES
