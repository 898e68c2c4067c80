"""`sluice run` over a FineWeb-style document corpus (real text from ../shared/data/wcxb-dev), and the failures
issue 22 found on one: the files read as WARC, the classify crash without n_chars, FineWeb's language column
ignored, a misspelled language list passing `config --check`."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import shared_data
from tests.jobs.pipeline_fixtures import run_logged

pytestmark = pytest.mark.spark

CONFIG = """
[classify]  # no models: every document passes unscored (quality 1.0, no category)
clutter_model = ""
quality_model = ""
domain_model = ""
"""


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    from demo.fineweb_corpus import write_fineweb_corpus

    base = tmp_path_factory.mktemp("corpus-run")
    write_fineweb_corpus(shared_data("wcxb-dev"), base / "corpus", n_rows=240, files=2)
    # no flag beyond --input (and --output): the kind, the columns and the language come from the files; without
    # models classify runs with its models off and says so
    log = run_logged([sys.executable, "-m", "jobs.cli", "run", "--input", f"{base}/corpus/*.parquet",
                      "--output", str(base / "run")], base / "run.log")
    return base, log


def _stats(run, stage_dir):
    return json.loads((run / stage_dir / "_stats.json").read_text())


def test_a_parquet_corpus_runs_filter_then_every_stage_to_shards(corpus_run):
    base, log = corpus_run
    run = base / "run"
    documents = _stats(run, "documents")
    assert documents["stage"] == "filter" and documents["records_in"] == 240
    assert "malformed_record" not in documents["dropped"]  # not read as WARC
    assert documents["dropped"].get("gopher_quality", 0) > 0  # "Click here to subscribe." and its kind
    assert _stats(run, "deduped")["dropped"].get("exact_duplicate", 0) > 0
    assert _stats(run, "shards")["records_out"] > 0 and "sluice run: done; shards in" in log
    assert "classify runs without models" in log
    for stage in ("filter", "dedup", "classify", "tokenize"):  # one line as each stage starts and ends, with time
        assert f"{stage}: started: " in log and re.search(rf"^{stage}: \d+ in, \d+ out, dropped .* \(\d+\.\d s\)$",
                                                          log, re.M), stage
    kept = pq.read_table(run / "documents", columns=["lang", "text"])
    assert set(kept.column("lang").to_pylist()) == {"en"}  # FineWeb's language column, not language id
    assert "Click here to subscribe." not in kept.column("text").to_pylist()


def test_dropped_documents_can_be_looked_at(corpus_run):
    base, _ = corpus_run
    dropped = pq.read_table(base / "run" / "documents" / "_dropped" / "dropped.parquet").to_pylist()
    reasons = {row["reason"] for row in dropped}
    assert "gopher_quality" in reasons
    assert all(sum(r["reason"] == reason for r in dropped) <= 200 for reason in reasons)  # audit.keep_dropped
    row = next(r for r in dropped if r["reason"] == "gopher_quality")
    assert row["rule"].startswith("gopher_quality:") and row["text"] and row["url"].startswith("http")


def test_classify_takes_a_corpus_without_n_chars(spark, tmp_path, capsys):
    """classify used to crash on any Parquet without an n_chars column (ArrowColumnVector getFloat)."""
    from jobs.classify import ClassifyStage

    (tmp_path / "docs").mkdir()
    pq.write_table(pa.table({"text": ["Some words here.", "More words there."], "id": ["a", "b"],
                             "token_count": [3, 3], "tags": [["x"], []]}), tmp_path / "docs" / "part-00000.parquet")
    (tmp_path / "run.toml").write_text(CONFIG)
    out = tmp_path / "classified"
    assert ClassifyStage().main(["--input", str(tmp_path / "docs"), "--output", str(out),
                               "--config", str(tmp_path / "run.toml")]) == 0
    table = pq.read_table(out)
    assert sorted(table.column("n_chars").to_pylist()) == [16, 17]
    assert {"token_count", "tags", "quality", "category", "weight"} <= set(table.column_names)
    assert "web_type" not in table.column_names  # no page type in a corpus, no web-type model: no web type
    # filtering by web type on it is one line, before any work
    (tmp_path / "typed.toml").write_text(CONFIG + 'keep_web_types = ["article"]\n')
    assert ClassifyStage().main(["--input", str(tmp_path / "docs"), "--output", str(tmp_path / "typed"),
                               "--config", str(tmp_path / "typed.toml")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("classify: classify.keep_web_types") and "the input has no page_type column" in error


def test_a_misspelled_language_list_fails_config_check(tmp_path):
    from jobs.cli import main as sluice

    (tmp_path / "run.toml").write_text('[filters.lang]\nlanguages = ["english"]\n')
    assert sluice(["config", "--check", str(tmp_path / "run.toml")]) == 2


def test_parquet_given_where_warc_is_configured_is_one_line(tmp_path, capsys):
    from jobs.run import main

    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "c.parquet")
    (tmp_path / "run.toml").write_text('[input]\nformat = "warc"\n')
    assert main(["--input", str(tmp_path / "c.parquet"), "--output", str(tmp_path / "out"),
                 "--config", str(tmp_path / "run.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a Parquet file, but input.format = 'warc'" in err


def test_inspect_shows_the_corpus_language_and_the_report_renders(corpus_run):
    from pipeline.inspect.report import inspect_shards
    from tests.pipeline.inspect.test_html import browse

    base, _ = corpus_run
    run = base / "run"
    report = inspect_shards(str(run / "shards"))
    assert [r["name"] for r in report["tokens_per_language"]] == ["en"]  # not 100% "(none)"
    dom = browse((run / "report.html").as_uri(), "--dump-dom")
    documents = _stats(run, "documents")
    assert (f"filter</td><td class=\"n\">{documents['records_in']:,}</td>"
            f"<td class=\"n\">{documents['records_out']:,}</td>") in dom
    assert "data-reason=\"gopher_quality\"" in dom


def test_the_shards_folder_reads_as_a_dataset_in_every_reader(corpus_run):
    """Sidecars start with "_", so readers given the folder skip them; the card sits in the run folder."""
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    base, _ = corpus_run
    run, shards = base / "run", base / "run" / "shards"
    total = json.loads((shards / "_manifest.json").read_text())["documents"]
    assert not (shards / "manifest.json").exists() and (shards / "_tokenizer.json").exists()
    assert ds.dataset(shards, format="parquet").count_rows() == total
    assert len(pd.read_parquet(shards, columns=["id"])) == total
    assert pl.read_parquet(f"{shards}/*.parquet").height == total  # polars takes a folder only with a glob
    assert duckdb.sql(f"select count(*) from '{shards}/*.parquet'").fetchall()[0][0] == total
    card = (run / "README.md").read_text()
    assert card.startswith("---\nconfigs:") and "path: shards/shard-*.parquet" in card
    assert f"num_examples: {total}" in card and "language:\n- \"en\"" in card and "| filter |" in card
    datasets = pytest.importorskip("datasets", reason="HF datasets is not installed in the dev extra")
    assert datasets.load_dataset(str(run))["train"].num_rows == total  # the card's configs: the shards only
    # (data_dir=shards is not enough: `datasets` skips only dot-files, and reads Spark's _SUCCESS as Parquet)
    assert datasets.load_dataset("parquet", data_files=f"{shards}/*.parquet")["train"].num_rows == total


def test_spark_submit_from_a_fresh_shell_with_the_venv_activated():
    """README: `source .venv/bin/activate`, then spark-submit (from pyspark in the venv) finds Spark."""
    venv_bin = Path(sys.executable).parent
    env = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": f"{venv_bin}:/usr/bin:/bin",
           "VIRTUAL_ENV": str(venv_bin.parent)}
    done = subprocess.run(["spark-submit", "--version"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "version" in done.stderr + done.stdout, done.stderr[-1000:]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert readme.index("source .venv/bin/activate") < readme.index("spark-submit --py-files dist/sluice-pyfiles.zip")


def test_the_console_progress_bar_is_off_without_a_terminal():
    from jobs.base import _stderr_is_terminal

    assert not _stderr_is_terminal()  # pytest captures stderr: what CI and log files get
