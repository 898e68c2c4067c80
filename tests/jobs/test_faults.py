"""Faults `sluice run` survives: a Python worker killed mid-task, the driver killed mid-stage, a vanished input WARC,
a worker daemon of a standalone cluster killed mid-stage.

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
from pathlib import Path

import pytest

from tests.jobs.pipeline_fixtures import (
    CONFIG,
    PYTHON,
    ROOT,
    RUN_TIMEOUT_S,
    SPARK_SUBMIT,
    assert_same_files,
    kill_group,
    kill_when,
    reference_run,
    run_logged,
    session_inputs,
    sluice_run_args,
    spark_env,
    tail,
    temp_dirs,
)
from tests.jobs.test_cluster import WORKER, StandaloneCluster, alive, descendants

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
    env = spark_env(SLUICE_CRASH_ONCE="pipeline.extract.stage:extract_documents,"
                              "pipeline.tokenize.tokenizer:encode_rows",
                    SLUICE_CRASH_DIR=str(crashes), SLUICE_CRASH_AFTER="3")
    command = [SPARK_SUBMIT, "--master", "local[2,4]",
               "--conf", "spark.python.daemon.module=tests.jobs.crash_once_daemon", str(ROOT / "jobs" / "run.py"),
               *sluice_run_args(reference.inputs, run, "--tokenizer", str(reference.tokenizer))]
    log = run_logged(command, tmp_path / "run.log", env=env)

    assert sorted(p.name for p in crashes.iterdir()) == [
        "pipeline.extract.stage.extract_documents", "pipeline.tokenize.tokenizer.encode_rows",
    ], "a planned crash did not happen"
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
    driver = kill_when(command, first_log, lambda: writing(run, "shards"), "tokenize wrote anything")
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
    from jobs.run_config import RunConfig
    from pipeline.config import defaults_toml

    crawl, vanished = crawl_with_vanished_file
    config = tmp_path / "run.toml"
    demo = RunConfig.load(CONFIG)  # the demo's settings with one key changed, whatever tables demo.toml has
    demo.extract.fail_on_missing_input = True
    config.write_text(defaults_toml(demo))
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
    manifest = json.loads((run / "shards" / "_manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) < sum(
        s["rows"] for s in json.loads((reference.run / "shards" / "_manifest.json").read_text())["shards"])


# -- (d) a worker daemon of a standalone cluster dies in the middle of a stage ------------------------------------


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def busy_python_under(pids: list[int]) -> bool:
    """Whether a Python process below `pids` is burning CPU now (a Spark task's worker, not an idle daemon)."""
    pythons = []
    for pid in descendants(pids):
        try:  # the program's own name: an executor JVM's class path also contains ".../python3.11/..."
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if program.rsplit(b"/", 1)[-1].startswith(b"python"):
            pythons.append(pid)
    before = {pid: cpu_ticks(pid) for pid in pythons}
    time.sleep(0.2)
    return any(cpu_ticks(pid) - ticks >= 5 for pid, ticks in before.items())


def test_worker_daemon_killed_mid_stage_job_finishes_output_unchanged(reference, tmp_path, request):
    """The extract stage runs on the standalone cluster of test_cluster (two 1-core workers, one task per WARC file).
    While a task is running (a Python worker under that worker's executor is burning CPU) the worker daemon is
    SIGKILLed; its executor follows it (it watches its worker), the driver loses the task and runs it again on the
    other worker. The run ends with rc 0 and documents/ (pyarrow-written in the tasks, stats included) equals the
    uninterrupted local run's byte for byte."""
    cluster = StandaloneCluster(tmp_path / "cluster")
    request.addfinalizer(cluster.stop)
    cluster.start()
    workers = [int(p.read_text()) for p in sorted((cluster.base / "pids").glob(f"*{WORKER}*.pid"))]
    assert len(workers) == 2
    orphans: list[int] = []  # the killed worker's executor and Python processes, in case they outlive it

    def kill_orphans() -> None:
        for pid in orphans:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    request.addfinalizer(kill_orphans)

    run, log_path = tmp_path / "run", tmp_path / "run.log"
    command = [PYTHON, "-m", "jobs.cli", "run",
               *sluice_run_args(reference.inputs, run, "--master", cluster.url, "--until", "extract")]
    with open(log_path, "wb") as out:
        driver = subprocess.Popen(command, cwd=ROOT, env=spark_env(), stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline, victim = time.monotonic() + RUN_TIMEOUT_S, None
            while victim is None:
                assert driver.poll() is None, f"the run ended before a worker was killed:\n{tail(log_path)}"
                assert time.monotonic() < deadline, "no task ever ran on a worker"
                victim = next((w for w in workers if busy_python_under([w])), None)
            orphans += descendants([victim])
            os.kill(victim, signal.SIGKILL)
            rc = driver.wait(timeout=RUN_TIMEOUT_S)
        finally:
            kill_group(driver)
    log = log_path.read_text(errors="replace")
    assert rc == 0, tail(log_path)
    assert not alive(victim)
    assert re.search(r"Lost executor \d+ on .*worker lost", log), tail(log_path)
    executor_logs = "".join(p.read_text(errors="replace") for p in (cluster.base / "work").glob("app-*/*/stderr"))
    retried = re.findall(r"Running task \d+\.[1-9] in stage", executor_logs)  # attempt 1+: a lost task, run again
    assert retried, "no task was lost: the worker was killed when its executor was idle"
    assert ran(log, "extract")
    assert_same_files(run / "documents", reference.run / "documents")
    assert not temp_dirs(run)
