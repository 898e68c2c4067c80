import pytest

from trainer.config import ConfigError, available_configs, load_config


def test_shipped_configs_load():
    assert {"tiny", "small", "dots_llm1"} <= set(available_configs())
    for name in available_configs():
        cfg = load_config(name)
        assert cfg.optim.betas == (0.9, 0.95) and cfg.optim.weight_decay == 0.1 and cfg.optim.grad_clip == 1.0
        assert cfg.model.init_std == 0.006


def test_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model]\ndim = 64\nn_layer = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml: unknown key 'model.n_layer'"):
        load_config(str(path))


def test_wrong_type_names_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[model.moe]\ntop_k = "two"\n')
    with pytest.raises(ConfigError, match=r"model.moe.top_k: expected an integer"):
        load_config(str(path))


def test_invalid_value_is_explained(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model]\ndim = 65\nn_heads = 4\n")
    with pytest.raises(ConfigError, match="not divisible"):
        load_config(str(path))


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ConfigError, match="no config named 'huge'.*tiny"):
        load_config("huge")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "missing.toml"))


def test_overrides_apply_and_are_checked():
    assert load_config("tiny", {"train.steps": 7, "optim.lr": 1}).train.steps == 7
    with pytest.raises(ConfigError, match="unknown key 'train.stepz'"):
        load_config("tiny", {"train.stepz": 7})


BAD_SETTINGS = [
    ("train.steps=abc", "train.steps: expected an integer"),
    ("model.n_heads=0", "model.n_heads=0: must be >= 1"),
    ("model.n_kv_heads=-1", "model.n_kv_heads=-1: must be >= 0"),
    ("model.dim=-64", "model.dim=-64: must be >= 1"),
    ("model.n_layers=1000000000", "model.n_layers=1000000000: must be in [1, 10000]"),
    ("model.moe.expert_ffn_dim=-1", "model.moe.expert_ffn_dim=-1"),
    ("data.seed=-1", "data.seed=-1"),
    ("optim.lr=inf", "optim.lr=inf: must be a finite number > 0"),
    ("optim.lr=0", "optim.lr=0: must be > 0"),
    ("optim.grad_clip=nan", "optim.grad_clip=nan: must be a finite number"),
    ("optim.betas=[0.9, nan]", "optim.betas=[0.9, nan]"),
    ("model.norm_eps=-1", "model.norm_eps=-1: must be > 0"),
    ("model.rope_theta=nan", "model.rope_theta=nan"),
    ("model.moe.route_scale=nan", "model.moe.route_scale=nan"),
    ("model.init_std=nan", "model.init_std=nan"),
    ("recompute.budget=inf", "recompute.budget=inf"),
    ("recompute.range_slack=nan", "recompute.range_slack=nan"),
    ("train.device=gpu", "train.device='gpu'"),
    ("model.eos_id=600", "model.eos_id=600"),
]


@pytest.mark.parametrize("setting,message", BAD_SETTINGS)
def test_every_bad_setting_is_one_line_and_rc_2(shard_dir, tmp_path, capsys, setting, message):
    from trainer.train import main

    args = ["--data", str(shard_dir), "--config", "tiny", "--out", str(tmp_path / "run"), "--set", setting]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sluice train: error:") and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_every_number_in_every_table_has_a_range():
    """A new numeric key must say its range in trainer/config.py RANGES (NaN, inf and negatives are refused)."""
    import dataclasses
    import typing

    from trainer.config import RANGES, JobConfig

    def numeric_keys(cls, prefix=""):
        for f in dataclasses.fields(cls):
            tp = typing.get_type_hints(cls)[f.name]
            key = f"{prefix}{f.name}"
            if dataclasses.is_dataclass(tp):
                yield from numeric_keys(tp, key + ".")
            elif tp in (int, float) or set(typing.get_args(tp)) & {int, float}:
                yield key

    missing = [k for k in numeric_keys(JobConfig) if k not in RANGES]
    assert not missing, f"add a range for {missing} to trainer/config.py RANGES"
    assert set(RANGES) <= set(numeric_keys(JobConfig))


@pytest.mark.parametrize("setting", ["model.max_seq_len=1000000000", "model.vocab_size=1099511627776"])
def test_a_shape_no_device_can_hold_is_refused_before_allocating(tmp_path, capsys, setting):
    from tests.trainer.conftest import pattern_docs, write_shards
    from trainer.train import main

    vocab = int(setting.split("=")[1]) if "vocab" in setting else 512
    shards = write_shards(tmp_path / "shards", pattern_docs(40), vocab_size=vocab)  # the manifest says so
    args = ["--data", str(shards), "--config", "tiny", "--out", str(tmp_path / "run")]
    if "vocab" not in setting:
        args += ["--set", setting]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB per rank" in err[0] and "a cpu device here has" in err[0], err


def test_the_old_checkpointing_table_is_read_as_recompute_with_a_warning(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('[checkpointing]\nmode = "full"\n')
    with pytest.warns(FutureWarning, match=r"\[checkpointing\] is now called \[recompute\]"):
        assert load_config(str(path)).recompute.mode == "full"
    with pytest.warns(FutureWarning):
        assert load_config("tiny", {"checkpointing.mode": "mimose"}).recompute.mode == "mimose"
    path.write_text('[checkpointing]\nmode = "full"\n[recompute]\nmode = "none"\n')
    with pytest.raises(ConfigError, match=r"recompute.mode is set under both \[checkpointing\]"):
        load_config(str(path))
