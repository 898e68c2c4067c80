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
