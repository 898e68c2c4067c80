"""The import direction of the packages, read from the source of every module (imports inside functions too):
jobs → classifiers → pipeline; trainer → pipeline; demo → classifiers, pipeline; nothing imports jobs but jobs.
The `sluice` command (jobs/cli.py) is the one module of jobs/ that reaches trainer/ and demo/: its subcommands."""

import ast

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "pipeline": {"pyspark", "torch", "classifiers", "jobs", "trainer", "demo"},
    "classifiers": {"pyspark", "torch", "jobs", "trainer", "demo"},
    "trainer": {"pyspark", "jobs", "classifiers", "demo"},
    "demo": {"pyspark", "torch", "jobs", "trainer"},
    "jobs": {"torch", "trainer", "demo"},
}
COMMAND = "jobs/cli.py"  # the `sluice` entry point: every subcommand, trainer's and demo's included


def imported_top_levels(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    modules = sorted(m for m in (ROOT / package).rglob("*.py") if m.relative_to(ROOT).as_posix() != COMMAND)
    assert modules
    wrong = {f"{m.relative_to(ROOT)} imports {name}" for m in modules
             for name in imported_top_levels(m) & FORBIDDEN[package]}
    assert not wrong, sorted(wrong)


def test_the_command_reaches_every_subcommand_through_imports_the_checker_sees():
    assert {"trainer", "demo", "jobs"} <= imported_top_levels(ROOT / COMMAND)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from jobs.base import x\n    import torch.nn\n")
    assert imported_top_levels(module) == {"jobs", "torch"}
