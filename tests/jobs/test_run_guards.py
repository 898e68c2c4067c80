"""`sluice run` where the work cannot complete: one line and rc != 0, nothing marked complete, and the next run
recovers. The issue's reproducers, on one WARC file of the session's sample crawl (tiny input):

- every page an operational failure (the issue's: every page a timeout after a cold numba cache; here every
  page's gzip body broken midway, a decode_error): the loss guard stops extract;
- the output on a full file system (an 8 KiB tmpfs, where this test may mount one): one line naming the path;
- two runs into one output, started together and 20 s apart: one writes, the other stops with one line naming it;
- a run-trained tokenizer after a kill right behind classified/_SUCCESS: the rerun trains it again, and the shards
  equal those of a run that never stopped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.jobs.pipeline_fixtures import (
    CONFIG,
    PYTHON,
    RUN_TIMEOUT_S,
    assert_same_files,
    kill_group,
    kill_when,
    reference_run,
    run_logged,
    run_to_exit,
    session_inputs,
    sluice_run_args,
    start_logged,
    tail,
    temp_dirs,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def one_file(tmp_path_factory) -> Path:
    inputs = session_inputs(tmp_path_factory)
    crawl = tmp_path_factory.mktemp("one-file")
    (crawl / "a.warc.gz").symlink_to(inputs.crawl / "sample-00000.warc.gz")
    return crawl


def sluice_run(args: list[str], log: Path) -> tuple[int, str]:
    """`sluice run ARGS` as a user runs it: (exit code, what it printed)."""
    rc = run_to_exit([PYTHON, "-m", "jobs.cli", "run", *args], log)
    return rc, log.read_text(errors="replace")


def ours(log: str) -> list[str]:
    """Sluice's own lines (Spark's and Python's logging have timestamps or levels)."""
    return [line for line in log.splitlines() if line.strip() and not re.match(
        r"^(\d{2,4}[-/]\d\d[-/]\d\d|WARNING|Setting default log level|To adjust logging level|\s|\tat |Using Spark)",
        line)]


def extract_args(crawl: Path, run: Path, *extra: str) -> list[str]:
    return ["--input", f"{crawl}/*.warc.gz", "--output", str(run), "--until", "extract", *extra]


# -- the loss guard ------------------------------------------------------------------------------------------------


def undecodable_crawl(directory: Path, pages: int = 20) -> Path:
    """A WARC whose every page has a body its Content-Encoding (gzip) does not decode: each is a decode_error."""
    import gzip
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    directory.mkdir()
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for i in range(pages):
        body = bytearray(gzip.compress(f"<html><body><p>page {i} ".encode() + b"word " * 2000 + b"</p></body></html>"))
        body[len(body) // 2] ^= 0xFF  # broken midway: decoding starts, then fails
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(f"http://broken.example/{i}", "response",
                                                      payload=io.BytesIO(bytes(body)), http_headers=http))
    (directory / "broken.warc.gz").write_bytes(buf.getvalue())
    return directory


def test_a_stage_that_loses_its_input_for_operational_reasons_fails_with_one_line(tmp_path):
    """The issue's case was every page a timeout (a cold numba cache) and rc 0; any operational reason counts."""
    crawl, run = undecodable_crawl(tmp_path / "crawl"), tmp_path / "run"
    rc, log = sluice_run(extract_args(crawl, run), tmp_path / "run.log")
    assert rc == 2, tail(tmp_path / "run.log")
    errors = [line for line in ours(log) if "dropped for operational reasons" in line]
    assert errors == ["extract: 20 of 20 records (100.0%) dropped for operational reasons (decode_error 20), more "
                      "than integrity.max_operational_drop_share = 0.2; nothing was written"], log[-3000:]
    assert "Traceback" not in log
    assert not (run / "documents").exists() and not temp_dirs(run)


# -- disk full -----------------------------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:100]})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_naming_the_path_and_the_next_run_recovers(one_file, small_tmpfs, tmp_path):
    """The issue's case: extract and `sluice run` on a small tmpfs failed with 4 tracebacks each."""
    run = small_tmpfs / "run"
    rc, log = sluice_run(extract_args(one_file, run), tmp_path / "full.log")
    assert rc == 2, tail(tmp_path / "full.log")
    errors = [line for line in ours(log) if "nothing was marked complete" in line]
    assert len(errors) == 1 and errors[0].startswith(f"extract: cannot write {run}/"), log[-3000:]
    assert "No space left on device" in errors[0]
    # the driver prints no traceback (Spark's executor log still reports the failed task, as for any task)
    assert "jobs/cli.py" not in log and "Py4JJavaError" not in log, log[-3000:]
    assert not list(run.rglob("_SUCCESS"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    log = run_logged([PYTHON, "-m", "jobs.cli", "run", *extract_args(one_file, run)], tmp_path / "rerun.log")
    assert (run / "documents" / "_SUCCESS").exists() and not temp_dirs(run), log[-2000:]


# -- one writer per output -----------------------------------------------------------------------------------------


def start(args: list[str], log: Path) -> subprocess.Popen:
    return start_logged([PYTHON, "-m", "jobs.cli", "run", *args], log)


@pytest.mark.parametrize("apart_s", [0, 20])
def test_two_runs_into_one_output_one_writes_the_other_stops(one_file, tmp_path_factory, tmp_path, apart_s):
    """The issue's case: two runs 20 s apart; one died with FileNotFoundError on the other's deduped.tmp-*."""
    run = tmp_path / "run"
    args = extract_args(one_file, run)
    if apart_s:  # the whole pipeline over the whole sample crawl (~40 s for one file of it): still running at 20 s
        args = extract_args(session_inputs(tmp_path_factory).crawl, run)
        args = args[:args.index("--until")]
    first = start(args, tmp_path / "first.log")
    try:
        time.sleep(apart_s)
        if apart_s:
            assert first.poll() is None, "the first run ended within 20 s: nothing was concurrent"
        second = start(args, tmp_path / "second.log")
        try:
            rcs = [first.wait(timeout=RUN_TIMEOUT_S), second.wait(timeout=RUN_TIMEOUT_S)]
        finally:
            kill_group(second)
    finally:
        kill_group(first)
    logs = [(tmp_path / f"{n}.log").read_text(errors="replace") for n in ("first", "second")]
    assert sorted(rcs) == [0, 2], logs
    stopped = logs[rcs.index(2)]
    writer = [first, second][rcs.index(0)]
    lines = [line for line in ours(stopped) if "is being written by" in line]
    assert len(lines) == 1 and f"pid {writer.pid} " in lines[0] and str(run) in lines[0], stopped[-2000:]
    assert "Traceback" not in stopped and "Traceback" not in logs[rcs.index(0)]
    assert (run / "documents" / "_SUCCESS").exists() and not temp_dirs(run)


# -- a run-trained tokenizer follows its data --------------------------------------------------------------------


def test_a_run_trained_tokenizer_is_retrained_after_a_kill_behind_classified(tmp_path_factory, tmp_path):
    """Change [classify], kill `sluice run` right after the new classified/_SUCCESS, run again: extract, dedup and
    classify are skipped, the tokenizer (trained by the first run on the old classified/) is trained again, and
    the shards equal those of a run that trained it on the new classified/ without stopping."""
    import pyarrow.parquet as pq

    reference = reference_run(tmp_path_factory)
    run = tmp_path / "run"
    for stage in ("documents", "deduped", "classified", "shards"):
        shutil.copytree(reference.run / stage, run / stage)
    for trained in reference.run.glob("tokenizer*"):  # the tokenizer the reference run trained, and its record
        shutil.copy2(trained, run / trained.name)
    qualities = sorted(pq.read_table(reference.run / "classified", columns=["quality"]).column(0).to_pylist())
    config = tmp_path / "run.toml"
    median = qualities[len(qualities) // 2]
    config.write_text(CONFIG.read_text().replace("min_quality = 0.5", f"min_quality = {median!r}"))
    args = sluice_run_args(reference.inputs, run)
    args[args.index("--config") + 1] = str(config)
    old_hash = json.loads((reference.run / "classified" / "_stage.json").read_text())["config_hash"]

    def new_classified() -> bool:
        try:
            record = json.loads((run / "classified" / "_stage.json").read_text())
        except (FileNotFoundError, ValueError):
            return False
        return record["config_hash"] != old_hash and (run / "classified" / "_SUCCESS").exists()

    killed_log = tmp_path / "killed.log"
    kill_when([PYTHON, "-m", "jobs.cli", "run", *args], killed_log, new_classified, "classify committed")
    assert (run / "tokenizer.json").read_bytes() == (reference.run / "tokenizer.json").read_bytes(), \
        "the kill came after the tokenizer was trained again: nothing left to test"

    log = run_logged([PYTHON, "-m", "jobs.cli", "run", *args], tmp_path / "rerun.log")
    for stage in ("extract", "dedup", "classify"):
        assert re.search(rf"^{stage}: \S+ is complete and its config is unchanged; skipped$", log, re.M), log[-3000:]
    assert "tokenizer: trained" in log

    clean = tmp_path / "clean"  # the same config, never stopped: classify's output is the one the killed run made
    for stage in ("documents", "deduped", "classified"):
        shutil.copytree(run / stage, clean / stage)
    clean_args = [clean if a == str(run) else a for a in args]
    run_logged([PYTHON, "-m", "jobs.cli", "run", *map(str, clean_args)], tmp_path / "clean.log")
    assert (run / "tokenizer.json").read_bytes() == (clean / "tokenizer.json").read_bytes()
    assert_same_files(run / "shards", clean / "shards")
