"""Every stage file runs as `spark-submit jobs/<stage>.py` runs it: as a script, with jobs/ first on sys.path
(where jobs/tokenize.py would shadow the standard library's tokenize) and no PYTHONPATH."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = ["extract", "dedup", "classify", "tokenize", "cluster_domains", "pipeline"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_stage_script_starts_without_pythonpath(name, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, str(ROOT / "jobs" / f"{name}.py"), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--input" in result.stdout
