"""Faults `sluice run` survives: a Python worker killed mid-task, the driver killed mid-stage, a vanished input WARC.

The runs that must end byte-identical to an uninterrupted one are compared with the session's reference run
(tests/jobs/pipeline_fixtures.py). To stay within the suite's time budget, stages a test is not about are copied
from the reference run (same crawl, config, models and tokenizer, so the same config hashes): the pipeline skips
them as it skips any complete stage whose hash is unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from tests.jobs.pipeline_fixtures import (
    CONFIG,
    PYTHON,
    ROOT,
    RUN_TIMEOUT_S,
    SPARK_SUBMIT,
    assert_same_files,
    kill_group,
    reference_run,
    run_logged,
    session_inputs,
    sluice_run_args,
    spark_env,
    tail,
    temp_dirs,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory)


def seed(run, reference, *stages: str) -> None:
    """Copy complete stage outputs of the reference run into `run` (copy2 keeps their mtimes)."""
    for stage in stages:
        shutil.copytree(reference.run / stage, run / stage)


def skipped(log: str, stage: str) -> bool:
    return re.search(rf"^{stage}: \S+ is complete and its config is unchanged; skipped$", log, re.M) is not None


def ran(log: str, stage: str) -> bool:
    return re.search(rf"^{stage}: \d+ in, \d+ out", log, re.M) is not None


def writing(run, directory: str) -> bool:
    """Whether a stage is writing `directory`: its `<directory>.tmp-*` exists and holds something."""
    for temp in run.glob(f"{directory}.tmp-*"):
        try:
            if any(temp.iterdir()):
                return True
        except FileNotFoundError:  # committed (renamed) in between
            pass
    return False


def mtimes(*directories) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for d in directories for p in sorted(d.rglob("*"))}


# -- (a) an executor's Python worker dies in the middle of a task ------------------------------------------------


def test_python_worker_killed_mid_task_is_retried_and_output_unchanged(reference, tmp_path):
    """local[2,4] (4 attempts per task) through spark-submit; tests/jobs/crash_once_daemon.py makes the first call
    of extract_documents (after 3 documents, its part file half written) and of encode_rows (shards being written)
    end their worker process with os._exit. Spark retries both tasks; documents/ and shards/ (including
    _stats.json, whose counts would grow with a double-counted attempt) equal the uninterrupted run's."""
    run, crashes = tmp_path / "run", tmp_path / "crashes"
    crashes.mkdir()
    seed(run, reference, "deduped", "classified")  # extract runs (and crashes), dedup and classify are skipped
    env = spark_env(SLUICE_CRASH_ONCE="pipeline.extract_stage:extract_documents,pipeline.tokenize:encode_rows",
                    SLUICE_CRASH_DIR=str(crashes), SLUICE_CRASH_AFTER="3")
    command = [SPARK_SUBMIT, "--master", "local[2,4]",
               "--conf", "spark.python.daemon.module=tests.jobs.crash_once_daemon", str(ROOT / "jobs" / "pipeline.py"),
               *sluice_run_args(reference.inputs, run, "--tokenizer", str(reference.tokenizer))]
    log = run_logged(command, tmp_path / "run.log", env=env)

    assert sorted(p.name for p in crashes.iterdir()) == [
        "pipeline.extract_stage.extract_documents", "pipeline.tokenize.encode_rows"], "a planned crash did not happen"
    lost = [line for line in log.splitlines() if "Lost task" in line and "Python worker exited unexpectedly" in line]
    assert len(lost) == 2, "\n".join(lost) or tail(tmp_path / "run.log")
    assert ran(log, "extract") and ran(log, "tokenize")
    assert skipped(log, "dedup") and skipped(log, "classify")
    for stage in ("documents", "shards"):
        assert json.loads((run / stage / "_stats.json").read_text()) == json.loads(
            (reference.run / stage / "_stats.json").read_text()), f"{stage}: counts differ after a retried task"
        assert_same_files(run / stage, reference.run / stage)
    assert not temp_dirs(run)


# -- (b) the driver dies in the middle of a stage; the same command is run again ---------------------------------


def test_driver_killed_mid_stage_then_rerun_resumes(reference, tmp_path):
    """The first run skips extract and dedup (outputs copied from the reference), completes classify itself, and
    is SIGKILLed, driver, JVM and Python workers at once as when its machine dies, while tokenize is writing
    shards (shards.tmp-* holds something). The rerun skips the three complete stages without touching their
    files, removes the stale temporary directory and redoes tokenize; the shards equal the reference's."""
    run = tmp_path / "run"
    seed(run, reference, "documents", "deduped")
    command = [PYTHON, "-m", "jobs.cli", "run",
               *sluice_run_args(reference.inputs, run, "--tokenizer", str(reference.tokenizer))]

    first_log = tmp_path / "killed.log"
    with open(first_log, "wb") as out:
        driver = subprocess.Popen(command, cwd=ROOT, env=spark_env(), stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while not writing(run, "shards"):
                assert driver.poll() is None, f"the run ended before tokenize wrote anything:\n{tail(first_log)}"
                assert time.monotonic() < deadline, f"tokenize did not start in {RUN_TIMEOUT_S} s"
                time.sleep(0.02)
            os.killpg(driver.pid, signal.SIGKILL)
        finally:
            kill_group(driver)
    assert driver.returncode == -signal.SIGKILL
    assert ran(first_log.read_text(errors="replace"), "classify") and (run / "classified" / "_SUCCESS").exists()
    assert not (run / "shards").exists() and list(run.glob("shards.tmp-*"))
    completed = mtimes(run / "documents", run / "deduped", run / "classified")

    log = run_logged(command, tmp_path / "rerun.log")

    assert skipped(log, "extract") and skipped(log, "dedup") and skipped(log, "classify"), log[-3000:]
    assert ran(log, "tokenize")
    assert mtimes(run / "documents", run / "deduped", run / "classified") == completed, "a skipped stage was rewritten"
    assert not temp_dirs(run), "a stale .tmp-* directory survived the rerun"
    stats = "classified/_stats.json"  # written by the killed run
    assert (run / stats).read_text() == (reference.run / stats).read_text()
    assert_same_files(run / "shards", reference.run / "shards")


# -- (c) an input WARC that is listed but cannot be read --------------------------------------------------------


@pytest.fixture
def crawl_with_vanished_file(tmp_path_factory, tmp_path):
    """A glob matching one real WARC and one whose file is gone (a dangling symlink: listed, cannot be opened;
    root ignores permission bits, so chmod 000 would not do)."""
    inputs = session_inputs(tmp_path_factory)
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "a.warc.gz").symlink_to(inputs.crawl / "sample-00000.warc.gz")
    gone = tmp_path / "deleted.warc.gz"
    shutil.copy(inputs.crawl / "sample-00001.warc.gz", gone)
    (crawl / "b.warc.gz").symlink_to(gone)
    gone.unlink()
    return crawl, crawl / "b.warc.gz"


def test_vanished_input_is_counted_named_and_the_run_goes_on(spark, crawl_with_vanished_file, tmp_path):
    from jobs.run import main as sluice_run

    crawl, vanished = crawl_with_vanished_file
    run = tmp_path / "run"
    argv = ["--input", f"{crawl}/*.warc.gz", "--output", str(run), "--config", str(CONFIG), "--until", "extract"]
    assert sluice_run(argv) == 0

    stats = json.loads((run / "documents" / "_stats.json").read_text())
    assert stats["failed_inputs"] == [str(vanished)]
    assert stats["dropped"]["missing_input"] == 1
    assert stats["records_out"] > 0  # the readable file was processed
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    assert (run / "documents" / "_SUCCESS").exists() and not temp_dirs(run)


def test_vanished_input_fails_the_run_with_fail_on_missing_input(spark, crawl_with_vanished_file, tmp_path, capsys):
    from jobs.run import main as sluice_run

    crawl, vanished = crawl_with_vanished_file
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.read_text() + "\n[extract]\nfail_on_missing_input = true\n")
    run = tmp_path / "run"
    argv = ["--input", f"{crawl}/*.warc.gz", "--output", str(run), "--config", str(config), "--until", "extract"]
    assert sluice_run(argv) == 2

    message = capsys.readouterr().err.strip()
    assert str(vanished) in message and "fail_on_missing_input" in message, message
    assert len(message.splitlines()) == 1, message
    assert not (run / "documents").exists(), "a failed stage left an output directory"
    assert not temp_dirs(run) and not list(run.rglob("_SUCCESS"))


def test_changed_config_redoes_that_stage_and_those_after_it(reference, tmp_path):
    """Only [classify] changes: extract and dedup are skipped, classify and tokenize run again, and the new
    threshold shows in the result (documents under it are dropped as low_quality)."""
    import pyarrow.parquet as pq

    run = tmp_path / "run"
    seed(run, reference, "documents", "deduped", "classified", "shards")
    qualities = sorted(pq.read_table(reference.run / "classified", columns=["quality"]).column(0).to_pylist())
    median = qualities[len(qualities) // 2]
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.read_text().replace("min_quality = 0.5", f"min_quality = {median!r}"))
    args = sluice_run_args(reference.inputs, run, "--tokenizer", str(reference.tokenizer))
    args[args.index("--config") + 1] = str(config)
    log = run_logged([PYTHON, "-m", "jobs.cli", "run", *args], tmp_path / "rerun.log")
    assert skipped(log, "extract") and skipped(log, "dedup")
    assert not skipped(log, "classify") and not skipped(log, "tokenize")
    before = json.loads((reference.run / "classified" / "_stats.json").read_text())
    after = json.loads((run / "classified" / "_stats.json").read_text())
    assert after["records_in"] == before["records_in"]
    assert after["dropped"].get("low_quality", 0) > before["dropped"].get("low_quality", 0)
    manifest = json.loads((run / "shards" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) < sum(
        s["rows"] for s in json.loads((reference.run / "shards" / "manifest.json").read_text())["shards"])
