"""What the end-to-end tests of `sluice run` (test_cluster, test_faults) share.

One sample crawl, one set of demo models and one uninterrupted local run of the whole pipeline per test session
(a full run costs about a minute on two cores), drivers run as subprocesses under a time limit, and comparisons of
output directories file by file.

Every run after the reference is given the reference's tokenizer (`--tokenizer`): a tokenizer trained
automatically lives in the run's own directory, and naming one file keeps each run from training its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SPARK_SUBMIT = str(Path(PYTHON).parent / "spark-submit")
CONFIG = ROOT / "configs" / "demo.toml"  # small shards and vocabulary: a 80-page crawl makes real output
RUN_TIMEOUT_S = 420  # one full pipeline run takes ~70 s on two busy cores

_session_cache: dict[str, object] = {}


@dataclass(frozen=True)
class Inputs:
    crawl: Path
    models: Path

    @property
    def warcs(self) -> str:
        return f"{self.crawl}/*.warc.gz"


@dataclass(frozen=True)
class Reference:
    inputs: Inputs
    run: Path  # OUTPUT of an uninterrupted `sluice run --master local[*]`

    @property
    def tokenizer(self) -> Path:
        return self.run / "tokenizer.json"


def spark_env(**extra: str) -> dict[str, str]:
    """The environment of a driver subprocess: loopback only, the venv's python on both sides, this checkout."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=PYTHON, PYSPARK_DRIVER_PYTHON=PYTHON,
               PYTHONUNBUFFERED="1", PYTHONPATH=path)
    env.pop("PYSPARK_SUBMIT_ARGS", None)
    env.update(extra)
    return env


def sluice_run_args(inputs: Inputs, output: Path, *extra: str) -> list[str]:
    return ["--input", inputs.warcs, "--output", str(output), "--config", str(CONFIG), "--models", str(inputs.models),
            *extra]


def start_logged(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `command` with stdout and stderr into `log`, in its own process group: `kill_group` then ends the JVM
    and Python workers it starts too."""
    with open(log, "wb") as out:  # the child holds its own copy of the descriptor
        return subprocess.Popen(command, cwd=ROOT, env=env or spark_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def run_to_exit(command: list[str], log: Path, env: dict[str, str] | None = None,
                timeout: float = RUN_TIMEOUT_S) -> int:
    """Run `command` (stdout and stderr into `log`) to its end and return its exit code; on a timeout its whole
    process group is killed and the test fails with the log's tail."""
    proc = start_logged(command, log, env)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise AssertionError(f"{' '.join(command)} ran over {timeout} s; log {log}:\n{tail(log)}") from None
    except BaseException:
        kill_group(proc)
        raise


def run_logged(command: list[str], log: Path, env: dict[str, str] | None = None,
               timeout: float = RUN_TIMEOUT_S) -> str:
    """Run `command` (stdout and stderr into `log`) to completion; fail with the log's tail unless it exits 0."""
    rc = run_to_exit(command, log, env, timeout)
    text = log.read_text(errors="replace")
    assert rc == 0, f"{' '.join(command)} exited {rc}; log {log}:\n{tail(log)}"
    return text


def kill_when(command: list[str], log: Path, ready: Callable[[], bool], event: str) -> subprocess.Popen:
    """Start `command` and SIGKILL its whole process group (driver, JVM and Python workers at once, as when its
    machine dies) as soon as `ready()` holds, checked every 20 ms; fail if it ends before `event` or
    RUN_TIMEOUT_S passes. Returns the killed process (its returncode is set)."""
    driver = start_logged(command, log)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not ready():
            assert driver.poll() is None, f"the run ended before {event}:\n{tail(log)}"
            assert time.monotonic() < deadline, f"not within {RUN_TIMEOUT_S} s: {event}"
            time.sleep(0.02)
        os.killpg(driver.pid, signal.SIGKILL)
    finally:
        kill_group(driver)
    return driver


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of `proc` (started with start_new_session) while its leader is not yet reaped."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def tail(log: Path, lines: int = 60) -> str:
    """The last lines of a log, without Java stack frames."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join([line for line in text if not line.startswith("\tat ")][-lines:])


def session_inputs(tmp_path_factory) -> Inputs:
    """The 80-page sample crawl (seed 7) and demo models trained on it, made once per test session."""
    if "inputs" not in _session_cache:
        from jobs.cli import main as sluice

        base = tmp_path_factory.mktemp("pipeline-inputs")
        crawl, models = base / "crawl", base / "models"
        assert sluice(["sample-crawl", "--output", str(crawl), "--pages", "80", "--seed", "7"]) == 0
        assert sluice(["classifiers", "train-demo", "--crawl", str(crawl), "--output", str(models)]) == 0
        _session_cache["inputs"] = Inputs(crawl, models)
    return _session_cache["inputs"]


def reference_run(tmp_path_factory) -> Reference:
    """The whole pipeline, uninterrupted, in local[*] mode through `sluice run` (once per test session; a failure
    is remembered too, so the tests sharing it fail at once instead of each running it again)."""
    if "reference" not in _session_cache:
        inputs = session_inputs(tmp_path_factory)
        base = tmp_path_factory.mktemp("reference")
        run = base / "run"
        try:
            log = run_logged([PYTHON, "-m", "jobs.cli", "run", *sluice_run_args(inputs, run, "--master", "local[*]")],
                             base / "run.log")
            assert "sluice run: done" in log, tail(base / "run.log")
            _session_cache["reference"] = Reference(inputs, run)
        except AssertionError as e:
            _session_cache["reference"] = e
            raise
    reference = _session_cache["reference"]
    if isinstance(reference, AssertionError):
        raise AssertionError(f"the reference run failed earlier: {reference}")
    return reference


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def assert_same_files(actual: Path, expected: Path) -> None:
    """Same file names, byte for byte the same contents (names of the files that differ in the message)."""
    got, want = files_of(actual), files_of(expected)
    assert sorted(got) == sorted(want), f"{actual} holds {sorted(got)}, {expected} holds {sorted(want)}"
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, f"differ from {expected}: {differ}"


def temp_dirs(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("*") if ".tmp-" in p.name)
