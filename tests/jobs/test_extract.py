"""End to end: the extract stage through spark-submit, as users run it, then again in-process."""

import json
import os
import subprocess

import pyarrow.parquet as pq
import pytest

from pipeline.document import DOCUMENT_COLUMNS
from tests.conftest import ROOT
from tests.jobs.pipeline_fixtures import SPARK_SUBMIT, spark_env

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    from demo.crawl import main as sample_crawl

    out = tmp_path_factory.mktemp("crawl")
    assert sample_crawl(["--output", str(out), "--pages", "80", "--seed", "7"]) in (0, None)
    return out


def spark_submit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SPARK_SUBMIT, "--master", "local[2]", str(ROOT / "jobs" / "extract.py"), *args],
                          env=spark_env(), capture_output=True, text=True, timeout=600)


def parquet_files(path):
    return sorted(p for p in os.listdir(path) if p.endswith(".parquet"))


def test_extract_job_end_to_end(crawl, tmp_path, spark):
    out = tmp_path / "documents"
    # the runs are compared byte for byte: a generous page limit, so that a loaded machine cannot time a page out in
    # one run only
    config = tmp_path / "run.toml"
    config.write_text("[extract]\ntimeout_s = 60\n")
    result = spark_submit("--input", f"{crawl}/*.warc.gz", "--output", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr[-4000:]

    stats = json.loads((out / "_stats.json").read_text())
    assert stats["stage"] == "extract"
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
    assert stats["records_out"] > 0
    assert stats["dropped"].get("malformed_record", 0) >= 1  # the sample crawl has broken records
    assert (out / "_SUCCESS").exists()
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]

    table = pq.read_table(out)
    assert tuple(table.column_names) == (*DOCUMENT_COLUMNS, "page_type", "page_type_score")  # the default columns
    assert table.num_rows == stats["records_out"]
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    assert all(t.strip() for t in table.column("text").to_pylist())

    # A rerun over a complete output does nothing.
    before = {p: (out / p).read_bytes() for p in parquet_files(out)}
    again = spark_submit("--input", f"{crawl}/*.warc.gz", "--output", str(out), "--config", str(config))
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert {p: (out / p).read_bytes() for p in parquet_files(out)} == before

    # The same input gives the same files, also from an in-process run on another session.
    from jobs.extract import ExtractStage

    out2 = tmp_path / "documents2"
    assert ExtractStage().main(["--input", f"{crawl}/*.warc.gz", "--output", str(out2), "--config", str(config)]) == 0
    assert {p: (out2 / p).read_bytes() for p in parquet_files(out2)} == before
    assert json.loads((out2 / "_stats.json").read_text()) == stats
