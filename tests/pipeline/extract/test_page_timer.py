"""The page timer never raises inside a clean-up (a `__del__`, a weakref callback, a garbage collection): nothing
is printed, the clean-up finishes (or is taken silently), and the page still stops."""

from __future__ import annotations

import gc
import sys
import time
import weakref

import pytest

from pipeline.extract.page_timer import PageTimeout, time_limit

SPIN_S = 0.2  # a clean-up slower than the page limit: the timer fires inside it


def spin(seconds: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        pass


@pytest.fixture
def unraisable(monkeypatch):
    """What reaches sys.unraisablehook (where Python prints 'Exception ignored in ...')."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def run_page(cleanup) -> float:
    """A page that runs `cleanup` and then loops forever under a 0.05 s limit; its time to stop."""
    started = time.monotonic()
    with pytest.raises(PageTimeout), time_limit(0.05):
        cleanup()
        while True:
            pass
    return time.monotonic() - started


def test_a_finalizer_the_timer_fires_in_runs_to_its_end(unraisable, capfd):
    finished = []

    class Resource:
        def __del__(self):
            spin(SPIN_S)
            finished.append(True)

    elapsed = run_page(lambda: Resource())  # freed at once: __del__ runs inside the page
    assert finished == [True] and unraisable == [] and capfd.readouterr().err == ""
    assert SPIN_S <= elapsed < SPIN_S + 0.5  # the page stopped right after the clean-up


def test_a_garbage_collection_the_timer_fires_in_runs_to_its_end(unraisable, capfd):
    finished = []

    class Node:
        pass

    refs = []  # the weakref outlives the cycle (a weakref freed with its target calls nothing)

    def collect():
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it, and runs the callback inside the collection
        refs.append(weakref.ref(b, lambda _: (spin(SPIN_S), finished.append(True))))
        del a, b
        gc.collect()

    run_page(collect)
    assert finished == [True] and unraisable == [] and capfd.readouterr().err == ""


def test_a_weakref_callback_the_timer_fires_in_prints_nothing(unraisable, capfd):
    """A callback run by a reference count is not recognised as a clean-up: the PageTimeout raised in it is taken
    silently, and the page stops at the timer's next firing."""

    class Target:
        pass

    def free():
        target = Target()
        keep = weakref.ref(target, lambda _: spin(SPIN_S))
        del target
        return keep

    elapsed = run_page(free)
    assert unraisable == [] and capfd.readouterr().err == ""
    assert elapsed < SPIN_S + 0.5


def test_other_unraisable_errors_still_reach_the_hook(unraisable):
    class Broken:
        def __del__(self):
            raise ValueError("not the timer's")

    with time_limit(5):
        Broken()
    assert [type(u.exc_value) for u in unraisable] == [ValueError]
    assert sys.unraisablehook == unraisable.append  # put back after the page


def test_a_tiny_limit_never_fires_after_the_page():
    """An alarm due before the page's block starts is not raised outside it (it once surfaced in write_documents)."""
    for _ in range(200):
        try:
            with time_limit(1e-6):
                pass
        except PageTimeout:
            pass
    spin(0.15)  # past REFIRE_S: a timer left armed would raise here
