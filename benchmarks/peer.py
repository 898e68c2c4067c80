"""Run a reference implementation in its own virtual environment (datatrove and friends stay out of ours)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path


def run_json_driver(python: str, driver: str, payload: dict) -> dict:
    """`python -c driver IN OUT`: the driver reads `payload` from the JSON file IN and writes its result to OUT."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "in.json").write_text(json.dumps(payload))
        subprocess.run([python, "-c", driver, f"{tmp}/in.json", f"{tmp}/out.json"], check=True)
        return json.loads(Path(tmp, "out.json").read_text())
