"""Training the fast extractor on WCXB-format annotations: block labels from the real main content, the page-type
model, the by-domain CV, the cards, reproduction from the seed."""

import json

import numpy as np
import pytest

from classifiers.extractor_wcxb import (
    WcxbTraining,
    overlap_labels,
    train_blocks,
    train_page_type,
    train_wcxb_extractor,
    training_pages,
)
from classifiers.wcxb import score, word_prf
from pipeline.extract.fast import TYPED_FEATURE_NAMES, FastExtractor
from tests.conftest import shared_data

SMALL = WcxbTraining(limit=3, rounds=10, type_rounds=10, folds=3)


def test_blocks_are_labelled_by_overlap_with_the_main_content():
    reference = "Fixing a flat tyre\nTake the wheel off the frame and find the hole in the tube.\nTools"
    texts = ["Take the wheel off the frame and find the hole", "Home", "Tools", "Sign in to comment on this post",
             "flat tyre", "Fixing a flat tyre"]
    assert overlap_labels(texts, reference).tolist() == [1, 0, 1, 0, 1, 1]


def test_word_f1_is_the_benchmark_s():
    assert word_prf("", "") == (1.0, 1.0, 1.0) and word_prf("a", "") == (0.0, 0.0, 0.0)
    p, r, f = word_prf("The cat sat. Home", "the cat sat on the mat")
    assert (p, r) == (3 / 4, 3 / 6) and f == pytest.approx(2 * p * r / (p + r))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = shared_data("wcxb-dev")
    out = tmp_path_factory.mktemp("wcxb") / "a" / "extractor.npz"
    metrics = train_wcxb_extractor(root, out, SMALL)
    return root, out, metrics


def test_cards_name_their_data_and_metrics(trained):
    _root, out, metrics = trained
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["features"] == list(TYPED_FEATURE_NAMES) and card["page_type_model"] == "page_type_v1.npz"
    assert "wcxb-dev" in card["data"] and card["supervision"].startswith("block token-trigram overlap")
    assert card["metrics"]["split"] == "GroupKFold by domain" and card["threshold"] == metrics["threshold"]
    assert 0 < card["metrics"]["cross_validation"]["all"]["f1"] <= 1
    type_card = json.loads((out.parent / "page_type_v1.json").read_text())
    assert type_card["kind"] == "page_type" and 0 <= type_card["metrics"]["page_type_accuracy"] <= 1
    text = FastExtractor(out).extract("<html><body><article><p>" + "Words of a real paragraph here. " * 10
                                      + "</p></article></body></html>", "https://example.com/blog/a-post")
    assert "Words of a real paragraph" in text


def test_the_model_reproduces_from_its_seed(trained):
    root, _out, _metrics = trained
    pages = [p for p in training_pages(root, SMALL.limit) if p.blocks is not None]
    types = np.full((len(pages), 7), 1 / 7)

    def arrays(settings):
        trees = [*train_blocks(pages, types, settings).values(), *train_page_type(pages, settings).values()]
        return [(t.feature.tolist(), t.threshold.tolist(), t.value.tolist()) for t in trees]

    assert arrays(SMALL) == arrays(SMALL)
    assert arrays(SMALL) != arrays(WcxbTraining(**{**SMALL.__dict__, "seed": 2}))


def test_score_averages_per_type():
    from classifiers.wcxb import WcxbPage

    pages = [WcxbPage("1", "u", t, "", "a b c", ["a b"], ["z"], None) for t in ("forum", "product")]
    result = score(["a b c", "z"], pages)
    assert result["forum"]["f1"] == 1.0 and result["product"]["f1"] == 0.0 and result["all"]["f1"] == 0.5
    assert result["all"]["with"] == 0.5 and result["all"]["without"] == 0.5
    assert np.isclose(result["all"]["precision"], 0.5)


def test_cli_refuses_a_folder_that_is_not_wcxb(tmp_path, capsys):
    from classifiers.cli import main as classifiers_main

    args = ["train", "extractor", "--wcxb", str(tmp_path), "--output", str(tmp_path / "m.npz")]
    assert classifiers_main(args) == 1
    assert "ground-truth.jsonl.gz: not found (is" in capsys.readouterr().err


def test_extraction_dev_snippets_override_the_teacher_and_weigh_more():
    from classifiers.extractor_wcxb import TrainingPage, block_targets

    page = TrainingPage(None, None, np.zeros((4, 1)), np.zeros(1), np.array([1, 0, 1, 0], np.int8),
                        url="https://www.example.org/a", marks=np.array([0, 1, -1, 0], np.int8))
    labels, weights = block_targets(page, WcxbTraining(extraction_dev_weight=2.0, annotation_weight=5.0))
    assert labels.tolist() == [1, 1, 0, 0] and weights.tolist() == [2.0, 10.0, 10.0, 2.0]
    assert page.domain == "example.org"


def test_extraction_dev_pages_train_and_are_cross_validated(tmp_path):
    out = tmp_path / "extractor.npz"
    metrics = train_wcxb_extractor(shared_data("wcxb-dev"), out, SMALL, shared_data("extraction-dev"))
    card = json.loads(out.with_suffix(".json").read_text())
    assert "extraction-dev" in card["data"] and "snippets" in card["supervision"]
    rates = metrics["extraction_dev_cross_validation"]
    assert rates["pages"] >= 18 and 0 <= rates["with"] <= 1 and 0 <= rates["without"] <= 1
    article = tuple(card["type_thresholds"]["article"])
    assert FastExtractor(out).model.type_thresholds == {"article": article}
