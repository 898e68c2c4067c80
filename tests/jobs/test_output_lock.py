"""One writer per output: the lock names its owner, a dead owner's lock is free, a second writer waits or stops."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from jobs.output_lock import OutputLocked, output_lock, run_lock_path, stage_lock_path

HOLD = """
import sys, time
from jobs.output_lock import output_lock
with output_lock(sys.argv[1], "out"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_in_child(path, seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert child.stdout.readline().strip() == "locked"
    return child


def test_paths():
    assert run_lock_path("/r/run/") == "/r/run/_run.lock"
    assert stage_lock_path("/r/run/documents") == "/r/run/documents.lock"


def test_a_second_writer_stops_with_one_line_naming_the_owner(tmp_path):
    lock = tmp_path / "run" / "_run.lock"
    with output_lock(str(lock), "run"):
        record = json.loads(lock.read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        with pytest.raises(OutputLocked) as e, output_lock(str(lock), str(tmp_path / "run")):
            pass
    message = str(e.value)
    assert "\n" not in message and f"pid {os.getpid()} on {socket.gethostname()}" in message and str(lock) in message
    assert lock.read_text() == ""  # released: no owner recorded
    with output_lock(str(lock), "run"):  # and free again
        pass


def test_a_killed_owner_leaves_a_free_lock(tmp_path, caplog):
    lock = tmp_path / "_run.lock"
    child = hold_in_child(lock, 60)
    with pytest.raises(OutputLocked, match=f"pid {child.pid} "):
        with output_lock(str(lock), "run"):
            pass
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert json.loads(lock.read_text())["pid"] == child.pid  # the dead run's record is still there
    with caplog.at_level(logging.WARNING), output_lock(str(lock), "run"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"pid {child.pid} on {socket.gethostname()}" in caplog.text and "gone" in caplog.text


def test_a_second_writer_can_wait_for_the_first(tmp_path):
    lock = tmp_path / "_run.lock"
    child = hold_in_child(lock, 1.0)
    start = time.monotonic()
    with output_lock(str(lock), "run", wait_s=30, poll_s=0.1):
        waited = time.monotonic() - start
    child.wait()
    assert child.returncode == 0 and waited > 0.3


def test_object_stores_go_on_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING), output_lock("s3://bucket/run/_run.lock", "s3://bucket/run"):
        pass
    assert "cannot be locked" in caplog.text
