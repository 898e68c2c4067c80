"""Disk full, read-only, permission denied: found however the error arrives, and said in one line."""

import errno
import os

import pytest

from jobs.io_errors import find_io_error, io_error_line

TASK_TRACEBACK = """An error occurred while calling o87.collectToPython.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 2.0 failed 1 times
org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/work/jobs/base.py", line 241, in write
    writer.write_table(table)
OSError: [Errno 28] No space left on device: '/out/documents.tmp-1a2b/part-00003.parquet'
\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
"""


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_an_os_error_from_the_driver(code):
    e = OSError(code, os.strerror(code), "/out/documents.tmp-1/_stats.json")
    assert find_io_error(e) == ("/out/documents.tmp-1/_stats.json", os.strerror(code))
    assert io_error_line(e, "extract", "/out/documents") == (
        f"extract: cannot write /out/documents.tmp-1/_stats.json: {os.strerror(code)}; nothing was marked complete "
        "(a rerun removes the temporary files)")


def test_a_wrapped_one_and_one_in_a_spark_task():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/x")
        except OSError as inner:
            raise RuntimeError("writing failed") from inner
    except RuntimeError as e:
        assert find_io_error(e) == ("/out/x", "No space left on device")
    assert find_io_error(Exception(TASK_TRACEBACK)) == ("/out/documents.tmp-1a2b/part-00003.parquet",
                                                       "No space left on device")
    arrow = OSError("error writing to '/out/shards.tmp-9/shard-00000.parquet': Read-only file system")
    assert find_io_error(arrow) == ("/out/shards.tmp-9/shard-00000.parquet", "Read-only file system")


def test_other_errors_are_not_taken_for_disk_errors():
    assert find_io_error(OSError(errno.ENOENT, "No such file or directory", "/x")) is None
    assert find_io_error(ValueError("bad value")) is None
    assert io_error_line(Exception("Task failed: [Errno 2] No such file or directory: '/x'"), "dedup", "/o") is None
