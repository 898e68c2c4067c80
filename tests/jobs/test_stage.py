"""jobs/stage.py: a stage is given only the tables it reads, its hash changes with every key of them and with no
other key, and a new stage is one module plus one registry line."""

import copy
import dataclasses
import inspect
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import registry
from jobs.run_config import RunConfig
from jobs.stage import ALWAYS_READ, WHOLE_CONFIG, Settings

ALL_STAGES = [registry.FIRST_FOR_DOCUMENTS, *registry.STAGES]
TABLES = [f.name for f in dataclasses.fields(RunConfig)]


def leaves(obj, path=()):
    """(path, value) of every key under a config dataclass."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from leaves(value, (*path, f.name))
        else:
            yield (*path, f.name), value


def changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, list):
        return [*value, "changed"]
    if isinstance(value, dict):
        return {**value, "changed": 1}
    return "changed"


def with_key(config: RunConfig, path: tuple, value) -> RunConfig:
    """A copy of `config` with one key set, bypassing validation (the hash never validates)."""
    config = copy.deepcopy(config)
    owner = config
    for name in path[:-1]:
        owner = getattr(owner, name)
    object.__setattr__(owner, path[-1], value)
    return config


def read_tables(stage) -> list[str]:
    return TABLES if stage.tables == WHOLE_CONFIG else sorted({*stage.tables, *ALWAYS_READ})


@pytest.mark.parametrize("stage", ALL_STAGES, ids=lambda s: s.name)
def test_the_hash_changes_with_every_key_the_stage_reads_and_with_no_other(stage):
    base = RunConfig()
    reference = stage.config_hash(stage.settings(base))
    read = read_tables(stage)
    checked = 0
    for table in TABLES:
        for path, value in leaves(getattr(base, table), (table,)):
            other = stage.config_hash(stage.settings(with_key(base, path, changed(value))))
            if table in read:
                assert other != reference, f"{stage.name}: changing {'.'.join(path)} leaves its hash unchanged"
                checked += 1
            else:
                assert other == reference, f"{stage.name}: {'.'.join(path)} is not read, yet changes its hash"
    assert checked >= len(read)


@pytest.mark.parametrize("stage", ALL_STAGES, ids=lambda s: s.name)
def test_a_stage_is_given_only_the_tables_it_reads(stage):
    settings = stage.settings(RunConfig())
    assert sorted(settings.tables()) == sorted(read_tables(stage))
    unread = [t for t in TABLES if t not in read_tables(stage)]
    for table in unread:
        with pytest.raises(AttributeError, match=rf"reads no \[{table}\] table: add '{table}' to its `tables`"):
            getattr(settings, table)
    with pytest.raises(AttributeError, match="read-only"):
        settings.integrity = None


@pytest.mark.parametrize("stage", ALL_STAGES, ids=lambda s: s.name)
def test_no_stage_reads_the_config_file_behind_its_settings(stage):
    """The settings are the only way in: a stage module that loads run.toml itself would read unhashed tables."""
    source = inspect.getsource(inspect.getmodule(type(stage)))
    for call in ("RunConfig.load", "load_toml(", "tomllib"):
        assert call not in source, f"{stage.name} reads the config file itself ({call})"


def test_settings_travel_to_spark_tasks_whole():
    import pickle

    settings = Settings("x", {"audit": RunConfig().audit})
    assert pickle.loads(pickle.dumps(settings)).tables() == settings.tables()


def test_stage_names_and_folders_are_unique():
    assert len({s.name for s in ALL_STAGES}) == len(ALL_STAGES)
    assert len({s.directory for s in registry.STAGES}) == len(registry.STAGES)


@pytest.mark.spark
def test_a_new_stage_is_one_module_and_one_registry_line(spark, tmp_path, monkeypatch, capsys):
    from jobs.run import main as sluice_run
    from tests.jobs.toy_stage import WordCountStage
    from tests.pipeline.corpus.test_filter_stage import PROSE

    monkeypatch.setattr(registry, "STAGES", (registry.STAGES[0], WordCountStage()))  # the registry line
    corpus = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(5)], "text": [PROSE + f" Day {i}." for i in range(5)],
                             "url": [f"https://s{i}.org/" for i in range(5)]}), corpus)
    argv = ["--input", str(corpus), "--output", str(tmp_path / "run")]
    assert sluice_run(argv) == 0
    counted = pq.read_table(tmp_path / "run" / "counted")
    assert counted.num_rows == 5 and min(counted.column("n_words").to_pylist()) > 20
    record = json.loads((tmp_path / "run" / "counted" / "_stage.json").read_text())
    assert record["stage"] == "words"
    assert "sluice run: done through words" in capsys.readouterr().out
    assert sluice_run(argv) == 0  # unchanged: skipped
    assert "words: " + str(tmp_path / "run" / "counted") + " is complete and its config is unchanged; skipped" \
        in capsys.readouterr().out
    (tmp_path / "run.toml").write_text("[audit]\nkeep_dropped = 7\n")  # a key the toy stage reads: redone
    assert sluice_run([*argv, "--config", str(tmp_path / "run.toml"), "--until", "words"]) == 0
    out = capsys.readouterr().out
    assert "words: started" in out
    assert json.loads((tmp_path / "run" / "counted" / "_stage.json").read_text())["config_hash"] != \
        record["config_hash"]
