"""One TOML for the whole run: the printed defaults load back, and mistakes name their key."""

import tomllib

import pytest

from jobs.run import config_main
from jobs.run_config import RunConfig
from pipeline.config import ConfigError, from_dict, to_dict


def test_printed_defaults_are_the_defaults(capsys):
    assert config_main(["--defaults"]) == 0
    text = capsys.readouterr().out
    assert "[extract]" in text and "[filters.lang]" in text and "[dedup]" in text and "[tokenize]" in text
    assert "# dots.llm1 drops documents under 0.65 language confidence" in text  # comments come along
    loaded = from_dict(RunConfig, tomllib.loads(text))
    assert to_dict(loaded) == to_dict(RunConfig())


@pytest.mark.parametrize(
    "toml, key",
    [
        ("[extract]\ntimeout = 3\n", "extract.timeout"),
        ("[filters.lang]\nmin_score = 'high'\n", "filters.lang.min_score"),
        ("[filters.gopher_quality]\nmin_doc_words = -5\n", "filters.gopher_quality.min_doc_words"),
        ("[extract]\ntimeout_s = 0\n", "extract.timeout_s"),
        ("[dedupe]\nngram = 5\n", "dedupe"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path, toml, key):
    path = tmp_path / "run.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as e:
        RunConfig.load(path)
    assert key in str(e.value) and str(path) in str(e.value)


def test_check_command_reports_a_bad_file(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text("[extract\n")
    assert config_main(["--check", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_check_prints_a_list_of_tables_that_loads_back(tmp_path, capsys):
    """`sluice config --check` fills in defaults and prints the file; a list of tables (evaluation sets) prints as
    inline tables that load back to the same config."""
    path = tmp_path / "run.toml"
    path.write_text('[decontaminate]\nenabled = true\n\n[[decontaminate.eval_sets]]\nname = "mmlu"\n'
                    'paths = ["evals/*.jsonl"]\nfields = ["question", "answer"]\n')
    assert config_main(["--check", str(path)]) == 0
    printed = tmp_path / "printed.toml"
    printed.write_text(capsys.readouterr().out)
    assert RunConfig.load(printed) == RunConfig.load(path)
