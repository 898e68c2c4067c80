"""`sluice run` over a FineWeb-style document corpus (real text from ../shared/data/wcxb-dev), and the failures
issue 22 found on one: the files read as WARC, the classify crash without n_chars, FineWeb's language column
ignored, a misspelled language list passing `config --check`."""

import json
import sys

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

[tokenize]
vocab_size = 2048
target_shard_mb = 1
row_group_mb = 1

[audit]
keep_dropped = 5
"""


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    from demo.fineweb_corpus import write_fineweb_corpus

    base = tmp_path_factory.mktemp("corpus-run")
    write_fineweb_corpus(shared_data("wcxb-dev"), base / "corpus", n_rows=240, files=2)
    (base / "run.toml").write_text(CONFIG)
    log = run_logged([sys.executable, "-m", "jobs.cli", "run", "--input", f"{base}/corpus/*.parquet",
                      "--output", str(base / "run"), "--config", str(base / "run.toml")], base / "run.log")
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
    kept = pq.read_table(run / "documents", columns=["lang", "text"])
    assert set(kept.column("lang").to_pylist()) == {"en"}  # FineWeb's language column, not language id
    assert "Click here to subscribe." not in kept.column("text").to_pylist()


def test_dropped_documents_can_be_looked_at(corpus_run):
    base, _ = corpus_run
    dropped = pq.read_table(base / "run" / "documents" / "_dropped" / "dropped.parquet").to_pylist()
    reasons = {row["reason"] for row in dropped}
    assert "gopher_quality" in reasons
    assert all(sum(r["reason"] == reason for r in dropped) <= 5 for reason in reasons)  # audit.keep_dropped
    row = next(r for r in dropped if r["reason"] == "gopher_quality")
    assert row["rule"].startswith("gopher_quality:") and row["text"] and row["url"].startswith("http")


def test_classify_takes_a_corpus_without_n_chars(spark, tmp_path):
    """classify used to crash on any Parquet without an n_chars column (ArrowColumnVector getFloat)."""
    from jobs.classify import ClassifyJob

    (tmp_path / "docs").mkdir()
    pq.write_table(pa.table({"text": ["Some words here.", "More words there."], "id": ["a", "b"],
                             "token_count": [3, 3], "tags": [["x"], []]}), tmp_path / "docs" / "part-00000.parquet")
    (tmp_path / "run.toml").write_text(CONFIG)
    out = tmp_path / "classified"
    assert ClassifyJob().main(["--input", str(tmp_path / "docs"), "--output", str(out),
                               "--config", str(tmp_path / "run.toml")]) == 0
    table = pq.read_table(out)
    assert sorted(table.column("n_chars").to_pylist()) == [16, 17]
    assert {"token_count", "tags", "quality", "category", "weight"} <= set(table.column_names)


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
