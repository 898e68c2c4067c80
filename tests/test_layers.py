"""The import direction of the packages, read from the source of every module (imports inside functions too):
jobs → classifiers → pipeline; trainer → pipeline; demo → classifiers, pipeline; nothing imports jobs but jobs."""

import ast

import pytest

from tests.conftest import ROOT

FORBIDDEN = {
    "pipeline": {"pyspark", "torch", "classifiers", "jobs", "trainer", "demo"},
    "classifiers": {"pyspark", "torch", "jobs", "trainer", "demo"},
    "trainer": {"pyspark", "jobs", "classifiers", "demo"},
    "demo": {"pyspark", "torch", "jobs", "trainer"},
}


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
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    wrong = {f"{m.relative_to(ROOT)} imports {name}" for m in modules
             for name in imported_top_levels(m) & FORBIDDEN[package]}
    assert not wrong, sorted(wrong)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from jobs.base import x\n    import torch.nn\n")
    assert imported_top_levels(module) == {"jobs", "torch"}
