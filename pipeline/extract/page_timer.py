"""The hard per-page time limit of the extract stage: `with time_limit(seconds):` raises PageTimeout in the page.

SIGALRM/setitimer interrupts Python code between bytecodes (trafilatura is mostly Python over lxml); a single long C
call such as lxml parsing one huge document finishes first, which is why bodies are capped.

A signal handler runs in whatever Python code the main thread is executing, and that is not always the page's: a
finalizer (`__del__`, a weakref callback: py4j's clean-up of Java objects, for one) can run inside the page when the
garbage collector or a reference count frees an object. An exception raised there cannot reach the page: Python
prints it ("Exception ignored in ...") and the finalizer is left half done. So the timer never raises inside a
collection or a `__del__` (it fires again DEFER_S later, when the clean-up is over), and a PageTimeout that still
ends up in an unrecognised clean-up (a weakref callback run by a reference count) is taken silently, and the timer
fires again at once.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import time

REFIRE_S = 0.05  # the page timer's repeat interval once it has fired
DEFER_S = 0.001  # how soon it fires again after it found a clean-up running
_FRAMES_LOOKED_AT = 64  # how far up the interrupted frame's callers a `__del__` is looked for


class PageTimeout(BaseException):
    """Raised inside trafilatura by the page timer; a BaseException so that no `except Exception` in a library
    swallows it and carries on with a half-finished page."""


class _GarbageCollection:
    """Whether the cyclic garbage collector is running: its finalizers and weakref callbacks run inside it. One
    gc callback, installed on first use, for the life of the process."""

    running = False
    installed = False

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            gc.callbacks.append(cls._phase)
            cls.installed = True

    @classmethod
    def _phase(cls, phase: str, info: dict) -> None:
        cls.running = phase == "start"


def in_clean_up(frame) -> bool:
    """Whether the code a signal interrupted is a garbage collection's or a `__del__`'s (or called by one)."""
    if _GarbageCollection.running:
        return True
    for _ in range(_FRAMES_LOOKED_AT):
        if frame is None:
            return False
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _fire_again_soon() -> None:
    signal.setitimer(signal.ITIMER_REAL, DEFER_S, REFIRE_S)


@contextlib.contextmanager
def time_limit(seconds: float | None):
    """Raise PageTimeout in the calling (main) thread after `seconds`; None means no limit.

    A timer already running (e.g. pytest-timeout) is put back afterwards with its remaining time.
    """
    if seconds is None:
        yield
        return
    _GarbageCollection.install()
    armed = [False]  # raise only once the block runs: an alarm before that would escape the `with` un-disarmed

    def on_alarm(signum, frame):
        if not armed[0]:
            return
        if in_clean_up(frame):
            _fire_again_soon()
            return
        raise PageTimeout

    outer_hook = sys.unraisablehook

    def on_unraisable(unraisable):
        if isinstance(unraisable.exc_value, PageTimeout):  # raised in a clean-up in_clean_up did not recognise
            _fire_again_soon()
            return
        outer_hook(unraisable)

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    sys.unraisablehook = on_unraisable
    previous_delay, previous_interval = 0.0, 0.0
    started = time.monotonic()
    try:
        # After the first alarm the timer keeps firing every REFIRE_S: a library's bare `except:` that swallows one
        # PageTimeout gets the next one, so the page still stops.
        previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, REFIRE_S)
        armed[0] = True
        yield
    finally:
        while True:  # disarm first; an alarm landing here is caught and disarming is retried
            try:
                armed[0] = False
                break
            except PageTimeout:
                continue
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        sys.unraisablehook = outer_hook
        if previous_delay > 0:
            remaining = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-3), previous_interval)
