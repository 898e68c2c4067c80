"""Dependencies by role: a GPU host installs `sluice[train]` (no pyspark, trafilatura, fastText, numba...), a data host
`sluice[data]` (no torch). Each side's modules are imported in a fresh interpreter where the other side's packages
cannot be imported at all, as on a host that never installed them; pyproject.toml's extras are checked to match."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT

DATA_ONLY = ("pyspark", "trafilatura", "fasttext", "numba", "warcio", "selectolax", "lightgbm", "matplotlib", "pandas")
TRAIN_ONLY = ("torch", "safetensors", "transformers")

# None in sys.modules is how Python spells "absent": `import x` raises ModuleNotFoundError and
# importlib.util.find_spec("x") answers None, as on a host without it (torch probes optional packages that way).
GUARD = """
import importlib, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
for module in sys.argv[2].split(","):
    importlib.import_module(module)
print("ok")
"""


def modules(package: str, skip: tuple[str, ...] = ()) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if not name.startswith(skip):
            names.append(name)
    return names


def import_without(blocked: tuple[str, ...], names: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", GUARD, ",".join(blocked), ",".join(names)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_the_trainer_imports_without_the_data_side():
    names = modules("trainer") + modules("pipeline/shards") + ["pipeline.config", "jobs.cli"]
    done = import_without(DATA_ONLY, names)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_data_side_imports_without_torch():
    names = modules("pipeline") + modules("classifiers") + modules("jobs") + modules("demo")
    done = import_without(TRAIN_ONLY, names)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_guard_blocks_what_it_names():
    done = import_without(("pyspark",), ["pyspark.sql"])
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr and "pyspark" in done.stderr


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_extras_split_the_dependencies_by_role(project):
    base = requirement_names(project["dependencies"])
    extras = {name: requirement_names(reqs) for name, reqs in project["optional-dependencies"].items()}
    assert not base & {"pyspark", "torch", "trafilatura", "fasttext-numpy2", "numba"}
    assert "pyspark" in extras["data"] and "torch" not in extras["data"]
    assert "torch" in extras["train"] and not extras["train"] & extras["data"]
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[dev,data,train,semdedup]"' in makefile  # make demo / make test install everything
