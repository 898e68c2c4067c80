"""Every stage file runs as `spark-submit jobs/<stage>.py` runs it: as a script, with jobs/ first on sys.path and
no PYTHONPATH. No module in jobs/ may share a name with the standard library or a top-level package, since the
script's folder comes first on sys.path."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = ["extract", "filter", "dedup", "classify", "tokenize_shards", "cluster_domains", "run"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_stage_script_starts_without_pythonpath(name, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "jobs" / f"{name}.py"), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--input" in result.stdout


def test_no_job_module_shadows_stdlib_or_a_package():
    shadowed = {p.stem for p in (ROOT / "jobs").glob("*.py")} & (
        set(sys.stdlib_module_names) | {"pipeline", "classifiers", "jobs", "trainer", "demo"})
    assert not shadowed
