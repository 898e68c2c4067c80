"""Every user error of `sluice run` and of each stage script: one line on stderr naming the path or key, exit code 2.

The errors a user can make before any data is read (a pattern matching nothing, an --output that is a file, a
config with an unknown key or a missing config file) are found before Spark starts, so these tests start none;
the ones found with data or models in hand (a damaged input file, a model without its card, a missing models
directory or tokenizer) use the session's local Spark.
"""

from __future__ import annotations

import json
import re
import subprocess
import time

import pyarrow.parquet as pq
import pytest

from jobs.classify import ClassifyStage
from jobs.dedup import DedupStage
from jobs.extract import ExtractStage
from jobs.tokenize_shards import TokenizeStage
from tests.jobs.pipeline_fixtures import PYTHON, ROOT, SPARK_SUBMIT, spark_env

JOBS = {"extract": ExtractStage, "dedup": DedupStage, "classify": ClassifyStage, "tokenize": TokenizeStage}
NO_SPARK_S = 8  # a failure before Spark starts; a session alone takes 8-12 s here


@pytest.fixture
def files(tmp_path):
    """A documents-like Parquet input, a WARC-like file, a plain file, configs good and bad."""
    import pyarrow as pa

    (tmp_path / "docs").mkdir()
    table = pa.table({"id": [f"d{i}" for i in range(50)], "text": [f"text number {i} " * 30 for i in range(50)]})
    pq.write_table(table, tmp_path / "docs" / "part-00000.parquet", write_page_checksum=True)
    (tmp_path / "a.warc.gz").write_bytes(b"")
    (tmp_path / "a_file").write_text("not a directory\n")
    (tmp_path / "bad.toml").write_text("[classify]\nmin_quality = 0.5\nno_such_key = 1\n")
    return tmp_path


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    return lines[0]


def stage_argv(stage: str, files, **override) -> list[str]:
    args = {"--input": str(files / ("a.warc.gz" if stage == "extract" else "docs")), "--output": str(files / "out"),
            **override}
    extra = {"classify": ["--models", str(files)], "tokenize": ["--tokenizer", str(files / "tok.json")]}
    return [item for pair in args.items() for item in pair] + extra.get(stage, [])


# -- stage scripts: errors found before Spark starts --------------------------------------------------------------

@pytest.mark.parametrize("stage", JOBS)
@pytest.mark.parametrize(("case", "expected"), [
    ("unknown_key", r"bad\.toml: unknown key 'classify\.no_such_key'"),
    ("missing_config", r"config file not found: .*nope\.toml"),
    ("nothing_matches", r"--input.*nothing/\*"),
    ("output_is_a_file", r"--output .*a_file: is a file"),
])
def test_stage_user_errors_are_one_line_exit_2_before_spark(stage, case, expected, files, capsys):
    override = {
        "unknown_key": {"--config": str(files / "bad.toml")},
        "missing_config": {"--config": str(files / "nope.toml")},
        "nothing_matches": {"--input": str(files / "nothing" / ("*.warc.gz" if stage == "extract" else "*"))},
        "output_is_a_file": {"--output": str(files / "a_file")},
    }[case]
    start = time.monotonic()
    assert JOBS[stage]().main(stage_argv(stage, files, **override)) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"{stage}: ") and re.search(expected, line), line
    assert time.monotonic() - start < NO_SPARK_S, "Spark was started before the error was found"


# -- sluice run ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "expected"), [
    ("nothing_matches", r"^sluice run: no input file matches: .*nothing/\*\.warc\.gz$"),
    ("output_is_a_file", r"^sluice run: --output .*a_file: is a file"),
    ("unknown_key", r"^sluice run: .*bad\.toml: unknown key 'classify\.no_such_key'"),
    ("missing_config", r"^sluice run: config file not found: .*nope\.toml$"),
    ("no_models", r"^sluice run: no classifier models at .*no_models: pass --models DIR"),
    ("no_tokenizer", r"^sluice run: tokenizer file not found: .*nope\.json$"),
])
def test_sluice_run_user_errors_are_one_line_exit_2_before_spark(case, expected, files):
    """As a user types it: a `sluice run` process; no FileNotFoundError or NotADirectoryError traceback."""
    args = {"--input": str(files / "*.warc.gz"), "--output": str(files / "run"), "--models": str(files)}
    args.update({
        "nothing_matches": {"--input": str(files / "nothing" / "*.warc.gz")},
        "output_is_a_file": {"--output": str(files / "a_file")},
        "unknown_key": {"--config": str(files / "bad.toml")},
        "missing_config": {"--config": str(files / "nope.toml")},
        "no_models": {"--models": str(files / "no_models")},
        "no_tokenizer": {"--tokenizer": str(files / "nope.json")},
    }[case])
    start = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "jobs.cli", "run", *[x for pair in args.items() for x in pair]],
                          cwd=ROOT, env=spark_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert re.search(expected, one_line(done.stderr)), done.stderr
    assert time.monotonic() - start < NO_SPARK_S + 5, "Spark was started before the error was found"


@pytest.mark.spark
def test_spark_submit_stage_script_with_unknown_key(files):
    """The issue's case: `spark-submit jobs/extract.py --config bad.toml` printed a ConfigError traceback."""
    done = subprocess.run([SPARK_SUBMIT, str(ROOT / "jobs" / "extract.py"), "--input", str(files / "a.warc.gz"),
                           "--output", str(files / "out"), "--config", str(files / "bad.toml")],
                          cwd=ROOT, env=spark_env(), capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr  # spark-submit passes the Python driver's stderr on as its stdout
    assert done.returncode == 2, output[-3000:]
    ours = [line for line in output.splitlines() if line.strip() and not line.startswith("WARNING: Using incubator")]
    assert len(ours) == 1 and ours[0].startswith("extract: "), output
    assert "bad.toml: unknown key 'classify.no_such_key'" in ours[0]


# -- sluice inspect / sluice stats ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["inspect", "stats"])
@pytest.mark.parametrize(("case", "expected"), [
    ("a_file", r"a_file:? is a file"),  # inspect raised NotADirectoryError with a traceback
    ("missing", r"nope(/_manifest\.json: missing| has no _stats\.json)"),
    ("damaged", r"bad/(_manifest\.json: missing|_stats\.json is damaged)"),
])
def test_inspect_and_stats_user_errors_are_one_line_exit_2(command, case, expected, files, capsys):
    """Like every other subcommand: exit 2, one line on stderr (they exited 1, inspect with a traceback)."""
    from jobs.cli import main as sluice

    (files / "bad").mkdir()
    (files / "bad" / "_stats.json").write_text("{not json")
    target = {"a_file": files / "a_file", "missing": files / "nope", "damaged": files / "bad"}[case]
    assert sluice([command, str(target)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"sluice {command}: ") and re.search(expected, line), line


# -- errors found with the data or models in hand (shared local Spark) ----------------------------------------------

def flip_text_page(path) -> None:
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(0).column(meta.schema.to_arrow_schema().get_field_index("text"))
    data = bytearray(path.read_bytes())
    data[(chunk.dictionary_page_offset or chunk.data_page_offset) + 60] ^= 0x04
    path.write_bytes(bytes(data))


@pytest.fixture
def tokenizer(files):
    from pipeline.tokenize.tokenizer import train_tokenizer
    from tests.pipeline.tokenize.test_tokenizer import EOS, corpus_texts

    train_tokenizer(iter(corpus_texts(200)), vocab_size=300, eos_token=EOS).save(str(files / "tok.json"))
    (files / "run.toml").write_text(f'[tokenize]\neos_token = "{EOS}"\n')
    return files / "tok.json"


@pytest.mark.spark
def test_damaged_input_stops_the_stage_naming_the_file_or_is_skipped_counted(spark, files, tokenizer, capsys):
    """The issue's case: a flipped byte in a documents file went through with rc 0 and changed text."""
    import pyarrow as pa

    good = pa.table({"id": [f"g{i}" for i in range(30)], "text": [f"good text {i} " * 20 for i in range(30)]})
    pq.write_table(good, files / "docs" / "part-00001.parquet", write_page_checksum=True)
    damaged = files / "docs" / "part-00000.parquet"
    flip_text_page(damaged)
    argv = stage_argv("tokenize", files, **{"--config": str(files / "run.toml")})
    assert TokenizeStage().main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"tokenize: {damaged}: damaged Parquet file (") and "CRC" in line, line
    assert "integrity.fail_on_corrupt_input = false" in line
    assert not (files / "out").exists() and not list(files.glob("out.tmp-*"))

    (files / "run.toml").write_text((files / "run.toml").read_text() + "[integrity]\nfail_on_corrupt_input = false\n")
    # skipped and counted, but 50 of 80 rows is more than the loss guard lets a stage lose (0.2 by default)
    assert TokenizeStage().main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line == ("tokenize: 50 of 80 records (62.5%) dropped for operational reasons (corrupt_input 50), more "
                    "than integrity.max_operational_drop_share = 0.2; nothing was written"), line
    assert not (files / "out").exists() and not list(files.glob("out.tmp-*"))
    (files / "run.toml").write_text((files / "run.toml").read_text() + "max_operational_drop_share = 0.7\n")
    assert TokenizeStage().main(argv) == 0
    stats = json.loads((files / "out" / "_stats.json").read_text())
    assert stats["dropped"]["corrupt_input"] == 50 and stats["failed_inputs"] == [str(damaged)]
    assert stats["records_in"] == 80 and stats["records_out"] + sum(stats["dropped"].values()) == 80


@pytest.mark.spark
def test_an_output_emptied_by_balancing_stops_tokenize(spark, files, tokenizer, capsys):
    """The issue's case: a NaN category weight gave every document 0 copies; tokenize wrote empty shards, rc 0.
    (NaN is refused at config load now; weights of 0 for everything reach the same end and stop here.)"""
    import pyarrow as pa

    (files / "weighted").mkdir()
    table = pa.table({"id": [f"d{i}" for i in range(40)], "text": [f"text {i} " * 30 for i in range(40)],
                      "weight": pa.array([0.0] * 40, pa.float32())})
    pq.write_table(table, files / "weighted" / "part-00000.parquet", write_page_checksum=True)
    argv = stage_argv("tokenize", files, **{"--input": str(files / "weighted"), "--config": str(files / "run.toml")})
    assert TokenizeStage().main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("tokenize: balancing left no document: all 40 documents that reached it"), line
    assert not (files / "out").exists() and not list(files.glob("out.tmp-*"))


@pytest.mark.spark
def test_classify_refuses_a_model_without_its_card(spark, files, capsys):
    """The issue's case: a quality .bin cut short, no card: it loaded, scored every document 0.0 and classify wrote
    empty output with rc 0. Now the stage stops before reading any document."""
    from tests.classifiers.textgen import train_small_models

    models = files / "models"
    train_small_models(models)
    data = (models / "quality_v1.bin").read_bytes()
    (models / "quality_v1.bin").write_bytes(data[: len(data) // 2])
    (models / "quality_v1.json").unlink()
    assert ClassifyStage().main(stage_argv("classify", files, **{"--output": str(files / "c")})[:-1] +
                              [str(models)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"classify: {models / 'quality_v1.bin'}: quality model has no card"), line
    assert not (files / "c").exists()

    missing = stage_argv("classify", files, **{"--output": str(files / "c")})[:-1] + [str(files / "no_models")]
    assert ClassifyStage().main(missing) == 2
    assert "models directory not found" in one_line(capsys.readouterr().err)


@pytest.mark.spark
def test_missing_tokenizer_is_one_line(spark, files, capsys):
    assert TokenizeStage().main(stage_argv("tokenize", files)) == 2
    assert one_line(capsys.readouterr().err) == f"tokenize: tokenizer file not found: {files / 'tok.json'}"


@pytest.mark.spark
def test_classify_stops_when_a_model_would_drop_nearly_everything(spark, files, capsys):
    """A quality threshold (or model) that drops more than classify.max_drop_share of the input stops the stage
    with one line naming the model and the share, and writes nothing; raising the limit lets it through."""
    from tests.classifiers.textgen import train_small_models

    models = files / "models"
    train_small_models(models)
    (files / "strict.toml").write_text('[classify]\nmin_quality = 1.0\nclutter_model = ""\ndomain_model = ""\n')
    argv = ["--input", str(files / "docs"), "--output", str(files / "c"), "--models", str(models),
            "--config", str(files / "strict.toml")]
    assert ClassifyStage().main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert re.match(r"classify: model quality_v1 would drop 50 of 50 documents \(low_quality\), 100\.0% dropped in "
                    r"all, more than classify\.max_drop_share = 0\.9", line), line
    assert not (files / "c").exists() and not list(files.glob("c.tmp-*"))
    (files / "strict.toml").write_text((files / "strict.toml").read_text() + "max_drop_share = 1.0\n")
    assert ClassifyStage().main(argv) == 0
    assert json.loads((files / "c" / "_stats.json").read_text())["dropped"] == {"low_quality": 50}


@pytest.mark.spark
@pytest.mark.parametrize("stage", ["dedup", "tokenize", "semdedup", "decontaminate", "classify"])
def test_an_input_without_the_text_column_is_one_line(spark, files, tokenizer, stage, capsys):
    """Parquet without `text` (a corpus written by another tool): the stage names the missing column."""
    import pyarrow as pa

    from jobs.registry import STAGES
    from jobs.run_config import RunConfig
    from jobs.stage import StageArgs

    (files / "no_text").mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "body": ["x", "y"]}), files / "no_text" / "part-0.parquet")
    given = StageArgs(input=[str(files / "no_text")], output=str(files / "out"), tokenizer=str(tokenizer),
                      without_models=True)
    target = next(s for s in STAGES if s.name == stage)
    assert target.execute(spark, target.settings(RunConfig()), given) == 2
    line = one_line(capsys.readouterr().err)
    assert re.fullmatch(rf"{stage}: input .*no_text lacks column\(s\) text", line), line
