"""A stage's hash covers the run.toml tables its job reads: a job that starts reading a table its hand-kept
`sections` list lacks would let a rerun keep a stale output (until the stage objects of issue #23 derive it)."""

import dataclasses
import importlib
import inspect
import re

import pytest

from jobs.run import FILTER_STAGE, STAGES
from jobs.run_config import RunConfig

TABLES = [f.name for f in dataclasses.fields(RunConfig)]


def tables_read(source: str) -> set[str]:
    """Tables a job's source reads: `config.<table>` / `run_config.<table>`, its config class, or its TOML section."""
    found = set()
    for table in TABLES:
        class_name = "".join(part.capitalize() for part in table.split("_")) + "Config"
        pattern = rf"\b(?:run_)?config\.{table}\b|\b{class_name}\b|section=\"{table}\""
        if re.search(pattern, source):
            found.add(table)
    return found


@pytest.mark.parametrize("stage", [FILTER_STAGE, *STAGES], ids=lambda s: s.name)
def test_stage_hash_sections_cover_what_its_job_reads(stage):
    module = importlib.import_module(stage.job.split(":")[0])
    missing = tables_read(inspect.getsource(module)) - set(stage.sections)
    assert not missing, f"{stage.name} reads {sorted(missing)} but its hash does not cover them"


def test_the_reader_finds_a_table_read():
    assert tables_read("cfg = load_toml(DedupConfig, path, section=\"dedup\")\naudit = run_config.audit") == {
        "dedup", "audit"}
