import math

import numpy as np
import pytest

from classifiers.balance import CategoryBalancer, category_factors, check_categories, copies
from classifiers.config import BalanceConfig, ClassifyConfig
from pipeline.config import ConfigError, from_dict


def test_copies_are_deterministic_and_match_expectation():
    ids = [f"doc-{i}" for i in range(20000)]
    for weight in (0.0, 0.3, 1.0, 2.5):
        first = [copies(i, weight) for i in ids]
        assert first == [copies(i, weight) for i in ids]
        assert set(first) <= {math.floor(weight), math.floor(weight) + 1}
        mean = np.mean(first)
        # binomial sampling error of the fractional part: 4 standard deviations
        frac = weight - math.floor(weight)
        assert abs(mean - weight) <= 4 * math.sqrt(frac * (1 - frac) / len(ids)) + 1e-12


def test_factor_mode_matches_targets_with_cap():
    config = BalanceConfig(targets={"fiction": 0.25, "science": 3.0, "code": 9.0}, max_factor=4.0)
    balancer = CategoryBalancer(config)
    weights = balancer.weights(["fiction", "science", "code", "other"])
    assert weights.tolist() == [0.25, 3.0, 4.0, 1.0]
    # the kept share of a category follows its target within sampling error
    kept = sum(copies(f"f{i}", 0.25) for i in range(10000))
    assert abs(kept / 10000 - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 10000)


def test_share_mode_reaches_wanted_shares():
    histogram = {"fiction": 600, "science": 100, "news": 300}
    config = BalanceConfig(mode="share", targets={"fiction": 0.2, "science": 0.3})
    factors = category_factors(config, histogram)
    assert factors["fiction"] == pytest.approx(0.2 * 1000 / 600)
    assert factors["science"] == pytest.approx(3.0)
    assert factors["news"] == pytest.approx(0.5 * 1000 / 300)
    expected = {c: n * factors[c] for c, n in histogram.items()}
    total = sum(expected.values())
    assert expected["science"] / total == pytest.approx(0.3)


def test_unknown_category_is_a_clear_error():
    config = BalanceConfig(targets={"sciense": 2.0})
    with pytest.raises(ConfigError, match="unknown category 'sciense'.*domain_v1 has: news, science"):
        check_categories(config, ["science", "news"], "domain_v1")


def test_config_from_toml_table_validates():
    config = from_dict(ClassifyConfig, {"min_quality": 0.3, "balance": {"mode": "share", "targets": {"a": 0.5}}},
                       prefix="classify")
    assert config.balance.targets == {"a": 0.5} and config.min_quality == 0.3
    with pytest.raises(ConfigError, match="classify.min_quality"):
        ClassifyConfig(min_quality=1.5)
    with pytest.raises(ConfigError, match="shares add up"):
        BalanceConfig(mode="share", targets={"a": 0.7, "b": 0.6})
    with pytest.raises(ConfigError, match="unknown key 'classify.balance.cap'"):
        from_dict(ClassifyConfig, {"balance": {"cap": 2}}, prefix="classify")


@pytest.mark.parametrize("key, value", [("default", math.nan), ("default", math.inf), ("max_factor", math.nan),
                                        ("max_factor", math.inf), ("targets", {"news": math.nan}),
                                        ("targets", {"news": math.inf})])
def test_non_finite_weights_are_refused_at_load(key, value):
    """A NaN factor passed every `< 0` check and gave every document 0 copies: the whole corpus silently gone."""
    with pytest.raises(ConfigError, match=f"classify.balance.{key}.*finite"):
        from_dict(ClassifyConfig, {"balance": {key: value}}, prefix="classify")


def test_the_balancer_refuses_a_non_finite_factor_however_it_was_built():
    config = BalanceConfig(targets={"news": 1.0})
    config.targets["news"] = math.nan  # past __post_init__, as code may do
    with pytest.raises(ConfigError, match="'news' is nan"):
        CategoryBalancer(config)
    config = BalanceConfig()
    config.default = math.nan
    with pytest.raises(ConfigError, match="finite"):
        CategoryBalancer(config)
