"""`sluice run --master spark://...` on a real Spark standalone cluster: a master and two 1-core workers on 127.0.0.1.

The pyspark package ships `sbin/spark-daemon.sh` and `bin/spark-class` but not `sbin/start-master.sh` or
`start-worker.sh` (its packaging keeps only the history- and connect-server scripts of sbin/). Those two scripts
are thin wrappers that run `spark-daemon.sh start <Master|Worker class> <instance> <args>`; this test runs exactly
that, and `spark-daemon.sh stop` to stop, with logs, pid files and work directories under its tmp directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.jobs.pipeline_fixtures import (
    PYTHON,
    assert_same_files,
    reference_run,
    run_logged,
    sluice_run_args,
    spark_env,
    temp_dirs,
)

pytestmark = pytest.mark.spark

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
WORKERS = 2
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pids: list[int]) -> list[int]:
    """Every live process below `pids` (executor JVMs under a worker, Python daemons under an executor)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether pid still runs. A zombie counts as dead: a SIGKILLed daemon whose parent (PID 1 of a container that
    does not reap, as on CI) never waits for it stays in the process table in state Z, yet it runs nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS) or gone since the signal: the signal said it existed
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"  # the command name in (...) may hold spaces


class StandaloneCluster:
    def __init__(self, base: Path):
        pyspark = pytest.importorskip("pyspark")
        self.home = Path(pyspark.__file__).parent
        self.base = base
        self.port, self.ui_port = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        for sub in ("logs", "pids", "work", "conf"):  # conf/ stays empty: no spark-env.sh or defaults from elsewhere
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.env = spark_env(
            SPARK_HOME=str(self.home), SPARK_MASTER_HOST="127.0.0.1", SPARK_LOG_DIR=str(base / "logs"),
            SPARK_PID_DIR=str(base / "pids"), SPARK_WORKER_DIR=str(base / "work"), SPARK_CONF_DIR=str(base / "conf"),
            SPARK_WORKER_CORES="1", SPARK_WORKER_MEMORY="1g", SPARK_IDENT_STRING="sluice-test",
        )
        # Like a real cluster, the daemons (so executors) do not have this checkout on their path: executors
        # import our packages from the zip the driver ships (jobs.base.ship_packages) or not at all.
        self.env.pop("PYTHONPATH")

    def daemon(self, action: str, cls: str, instance: int, *args: str) -> subprocess.Popen:
        script = str(self.home / "sbin" / "spark-daemon.sh")
        return subprocess.Popen(["bash", script, action, cls, str(instance), *args], env=self.env, cwd=self.base,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def start(self) -> None:
        master = self.daemon("start", MASTER, 1, "--host", "127.0.0.1", "--port", str(self.port),
                             "--webui-port", str(self.ui_port))
        self._finish(master)
        workers = [self.daemon("start", WORKER, i, "--host", "127.0.0.1", "--webui-port", str(free_port()), self.url)
                   for i in range(1, WORKERS + 1)]
        for worker in workers:  # each script waits ~2.5 s to see its JVM up: start them side by side
            self._finish(worker)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            state = self.state()
            if state and state.get("status") == "ALIVE" and state.get("aliveworkers") == WORKERS:
                return
            time.sleep(1)
        raise AssertionError(f"cluster not up after {START_TIMEOUT_S} s: {self.state()}\n{self.logs()}")

    def _finish(self, proc: subprocess.Popen) -> None:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "failed to launch" not in out, f"spark-daemon.sh: {out}\n{self.logs()}"

    def state(self) -> dict | None:
        """The master's status page as JSON (workers, applications), or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
                return json.load(r)
        except OSError:
            return None

    def pids(self) -> list[int]:
        return [int(p.read_text()) for p in sorted((self.base / "pids").glob("*.pid")) if p.read_text().strip()]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                         for p in sorted((self.base / "logs").glob("*.out")))

    def stop(self) -> None:
        """spark-daemon.sh stop for every daemon, then SIGKILL whatever of theirs is still alive after 20 s."""
        started = self.pids()
        ours = started + descendants(started)
        stops = [self.daemon("stop", WORKER, i) for i in range(1, WORKERS + 1)] + [self.daemon("stop", MASTER, 1)]
        for proc in stops:
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        deadline = time.monotonic() + 20
        while any(alive(p) for p in ours) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in ours:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory)


def test_pipeline_on_standalone_cluster_matches_local_run(reference, tmp_path, request):
    cluster = StandaloneCluster(tmp_path / "cluster")  # started after the reference run: they never share the cores
    request.addfinalizer(cluster.stop)  # also when anything below fails; stopping twice is harmless
    cluster.start()
    daemons = cluster.pids()
    assert len(daemons) == 1 + WORKERS and all(alive(p) for p in daemons)

    run = tmp_path / "run"
    args = sluice_run_args(reference.inputs, run, "--master", cluster.url, "--tokenizer", str(reference.tokenizer))
    log = run_logged([PYTHON, "-m", "jobs.cli", "run", *args], tmp_path / "run.log")
    assert "sluice run: done" in log

    # the work ran in an executor on each worker (one 1-core executor per 1-core worker), not in the driver
    state = cluster.state() or {}
    apps = state.get("completedapps", []) + state.get("activeapps", [])
    assert [a["name"] for a in apps] == ["sluice-run"], apps
    executor_logs = sorted((cluster.base / "work").glob("app-*/*/stderr"))
    working = [p for p in executor_logs if "Finished task" in p.read_text(errors="replace")]
    assert len(working) >= WORKERS, f"executors that ran tasks: {working} of {executor_logs}"

    # every stage writes its Parquet with pyarrow inside the tasks, so another cluster layout in another JVM gives
    # every file byte for byte: shards, manifest and tokenizer, and each intermediate output
    assert (run / "shards" / "_manifest.json").exists() and list((run / "shards").glob("shard-*.parquet"))
    for stage in ("documents", "deduped", "classified", "shards"):
        assert_same_files(run / stage, reference.run / stage)
    assert not temp_dirs(run)

    cluster.stop()
    assert not [p for p in daemons if alive(p)], "a daemon survived spark-daemon.sh stop"
