"""Every numeric key of the run config declares its range; nan, inf and out-of-range values are refused at load,
by `sluice config --check`, and the range is printed by `sluice config --defaults`."""

import dataclasses
import math
import typing

import pytest

from jobs.run import config_main
from jobs.run_config import RunConfig
from pipeline.config import ConfigError, from_dict, range_of


def numeric_keys(cls=RunConfig, prefix=""):
    """(dotted key, annotation) of every int/float field, and of every table of numbers (its values' annotation)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], f"{prefix}{f.name}"
        bare = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
        if dataclasses.is_dataclass(bare):
            yield from numeric_keys(bare, f"{key}.")
        elif bare in (int, float):
            yield key, tp
        elif typing.get_origin(bare) is dict and typing.get_args(bare)[1] is not str:
            yield key, typing.get_args(bare)[1]


KEYS = dict(sorted(numeric_keys()))


def nested(key: str, value) -> dict:
    *tables, name = key.split(".")
    data = {name: value}
    for table in reversed(tables):
        data = {table: data}
    return data


def default_of(key: str):
    obj = RunConfig()
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def test_there_are_numeric_keys_and_each_declares_a_range():
    assert len(KEYS) > 60
    missing = [key for key, tp in KEYS.items() if range_of(tp) is None]
    assert missing == []


@pytest.mark.parametrize("key", KEYS)
def test_defaults_are_in_range(key):
    tp = KEYS[key]
    value = default_of(key)
    values = value.values() if isinstance(value, dict) else [value]
    assert all(v in range_of(tp) for v in values)


def bad_values(tp):
    bounds = range_of(tp)
    base = typing.get_args(tp)[0]
    bad = [math.nan, math.inf, -math.inf] if base is float else [2**63]
    if bounds.lo is not None:
        bad.append(bounds.lo if bounds.open_lo else (bounds.lo - 1 if base is int else bounds.lo - 0.5))
    if bounds.hi is not None:
        bad.append(bounds.hi if bounds.open_hi else (bounds.hi + 1 if base is int else bounds.hi + 0.5))
    return bad


@pytest.mark.parametrize("key", KEYS)
def test_nan_inf_and_out_of_range_are_refused_naming_the_key(key):
    tp = KEYS[key]
    is_table = isinstance(default_of(key), dict)
    for value in bad_values(tp):
        with pytest.raises(ConfigError) as e:
            from_dict(RunConfig, nested(key, {"x": value} if is_table else value))
        assert key in str(e.value), (value, str(e.value))


@pytest.mark.parametrize("toml, key, says", [
    ("[dedup]\nthreshold = nan\n", "dedup.threshold", "finite"),
    ("[dedup]\nnum_perm = 0\n", "dedup.num_perm", "must be in"),
    ("[dedup]\nnum_perm = 9223372036854775807\n", "dedup.num_perm", "must be in"),
    ("[dedup]\nseed = -1\n", "dedup.seed", "must be in"),
    ("[extract]\ntimeout_s = inf\n", "extract.timeout_s", "finite"),
    ("[filters.gopher_quality]\nmax_avg_word_length = nan\n", "filters.gopher_quality.max_avg_word_length", "finite"),
    ("[filters.c4]\nmin_num_sentences = -3\n", "filters.c4.min_num_sentences", "must be in"),
    ("[filters.fineweb]\nmax_short_line_ratio = nan\n", "filters.fineweb.max_short_line_ratio", "finite"),
])
def test_config_check_refuses_with_one_line(tmp_path, capsys, toml, key, says):
    path = tmp_path / "run.toml"
    path.write_text(toml)
    assert config_main(["--check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and key in err and says in err and str(path) in err


def test_defaults_show_the_range(capsys):
    assert config_main(["--defaults"]) == 0
    out = capsys.readouterr().out
    threshold = next(line for line in out.splitlines() if line.startswith("threshold = 0.8"))
    assert "(range (0, 1))" in threshold  # dedup.threshold: 0 and 1 themselves make no LSH bands
    assert any(line.startswith("num_perm = ") and "(range [1, 4096])" in line for line in out.splitlines())
    assert any(line.startswith("min_score = ") and "(range [0, 1])" in line for line in out.splitlines())
