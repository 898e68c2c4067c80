"""DedupConfig validation and presets; exact fingerprints; line-dedup primitives."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, from_dict
from pipeline.dedup.primitives import DedupConfig, batch_line_keys, candidate_lines, remove_lines, text_fingerprints


def test_preset_dots_llm1():
    cfg = from_dict(DedupConfig, {"preset": "dots_llm1"})
    assert (cfg.ngram, cfg.num_perm, cfg.lsh_params()) == (5, 2048, (128, 16))
    assert DedupConfig().lsh_params() == (11, 10)  # S-curve midpoint 0.787, within 0.02 of the threshold 0.8
    assert DedupConfig(verify=False).lsh_params() == (9, 11)  # unverified: false positives weigh as much as misses


@pytest.mark.parametrize("threshold, num_perm", [(0.8, 128), (0.7, 128), (0.85, 128), (0.9, 128), (0.5, 128),
                                                 (0.8, 256), (0.8, 2048), (0.95, 128), (0.6, 64)])
def test_band_choice_puts_the_midpoint_at_the_threshold(threshold, num_perm):
    from pipeline.dedup.lsh import s_curve_midpoint

    for verify in (True, False):
        bands, rows = DedupConfig(threshold=threshold, num_perm=num_perm, verify=verify).lsh_params()
        assert bands * rows <= num_perm
        assert abs(s_curve_midpoint(bands, rows) - threshold) <= 0.02


@pytest.mark.parametrize("data, key", [
    ({"preset": "dots_llm1", "num_perm": 256}, "dedup.num_perm"),
    ({"preset": "nope"}, "dedup.preset"),
    ({"threshold": 1.5}, "dedup.threshold"),
    ({"bands": 4}, "dedup.bands"),
    ({"bands": 20, "rows": 10}, "num_perm"),
    ({"ngram": 0}, "dedup.ngram"),
    ({"fp_weight": 2.0}, "dedup.fp_weight"),
])
def test_bad_config_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key):
        from_dict(DedupConfig, data, prefix="dedup")  # as RunConfig loads the [dedup] table


def test_exact_fingerprints_follow_normalised_words():
    fp = text_fingerprints(["Hello, World!", "hello world", "world hello", "hello  world  again", "", "!!"])
    assert (fp[0] == fp[1]).all()
    assert not (fp[1] == fp[2]).any()  # order matters
    assert not (fp[1] == fp[3]).any()
    assert (fp[4] == 0).all() and (fp[5] == 0).all()


def test_candidate_lines_first_and_last_with_words():
    text = "\n".join(["", "---", "a1", "a2", "a3", "mid", "z1", "z2", ""])
    assert [i for i, _ in candidate_lines(text, 2, 2)] == [2, 3, 6, 7]
    assert [i for i, _ in candidate_lines("one\ntwo", 5, 5)] == [0, 1]
    idx, keys = batch_line_keys(["Share this!\nbody", "share THIS\nother"], 1, 0)
    assert idx == [[0], [0]] and keys[0] == keys[1]
    assert remove_lines("a\nb\nc", [1]) == ("a\nc", 2)
    assert remove_lines("a\nb", []) == ("a\nb", 0)
