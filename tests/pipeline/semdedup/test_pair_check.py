"""The second check of semantic dedup: content words, the bottom-k containment estimate, and each bound's verdict."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pipeline.semdedup.pair_check import PairCheck, containment, content_words, length_ratio, passes, passing, sketch


def test_content_words_skip_function_words_and_pair_han_characters():
    words = content_words("The committee said that 2024 budgets would rise, however the mayor disagreed. 市政府预算")
    assert {"committee", "budgets", "rise", "mayor", "disagreed", "2024", "市政", "政府", "预算"} <= words
    assert not {"the", "that", "would", "however", "said"} & words  # short or common: shared by any two texts


def _text(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


@pytest.mark.parametrize("shared", [0.0, 0.3, 0.6, 0.9])
def test_containment_estimate_is_close_to_the_exact_share(shared):
    rng = random.Random(int(shared * 10))
    a = {f"word{i:05d}" for i in range(600)}
    b = set(rng.sample(sorted(a), int(shared * 400))) | {f"other{i:05d}" for i in range(400 - int(shared * 400))}
    (sa, na), (sb, nb) = sketch(" ".join(sorted(a))), sketch(" ".join(sorted(b)))
    assert (na, nb) == (600, 400)
    assert abs(containment(sa, na, sb, nb) - shared) <= 0.08


def test_each_bound_decides():
    original = "Rainfall in Valencia reached 312 millimetres, flooding the Turia riverbed and several suburbs. " * 3
    copy = original.replace("reached", "hit").replace("several", "many")
    other = "Drought in Andalusia left reservoirs at 18 percent, and farmers in Almeria rationed irrigation. " * 3
    check = PairCheck()
    s_orig, s_copy, s_other = sketch(original), sketch(copy), sketch(other)
    assert passes(check, (len(original), len(copy)), (s_orig, s_copy))
    assert not passes(check, (len(original), len(other)), (s_orig, s_other))  # few shared content words
    assert not passes(check, (len(original), 5 * len(copy)), (s_orig, s_copy))  # lengths too far apart
    assert length_ratio(100, 400) == 0.25 and length_ratio(0, 0) == 1.0
    assert passes(PairCheck(enabled=False), (1, 1000), (s_orig, s_other))
    empty = sketch("a an the")
    assert empty[1] == 0 and containment(*empty, *s_orig) == 0.0


def test_passing_masks_candidate_pairs():
    texts = ["Valencia flood 312 millimetres Turia riverbed suburbs"] * 2 + ["Andalusia drought reservoirs Almeria"]
    mask = passing(PairCheck(), np.array([0, 0]), np.array([1, 2]), [len(t) for t in texts],
                   lambda x: sketch(texts[x]))
    assert mask.tolist() == [True, False]
    assert passing(PairCheck(), np.zeros(0, int), np.zeros(0, int), [], None).shape == (0,)
