"""The fast extractor's training: distillation labels, reproducibility from a seed, the shipped model's card."""

import hashlib
import json

import numpy as np
import pytest

from classifiers.cli import main as classifiers_main
from classifiers.extractor import (
    THRESHOLDS,
    ExtractorTraining,
    Page,
    annotation_marks,
    crawl_pages,
    cross_validate,
    supervision,
    teacher_labels,
    train_extractor,
    training_targets,
)
from pipeline.extract.fast import CONTEXT_FEATURES, DISTILLED_MODEL, FEATURE_NAMES, MODEL_KIND, parse_blocks
from tests.pipeline.extract.test_fast import FLOORS

LONG = "The committee met on Tuesday and agreed, after a long debate, to rebuild the bridge before the winter floods."


def test_blocks_are_labelled_by_what_trafilatura_kept():
    html = (f"<html><body><div><a href=/>Home</a></div><p>{LONG}</p><p>{LONG} Posted by Anna in News.</p>"
            "<h2>Next steps</h2><p>Share this article</p><div>steps</div></body></html>")
    blocks = parse_blocks(html)
    teacher = f"{LONG}\n{LONG}\nNext steps"
    # the second paragraph: most of its trigrams were kept (trafilatura cut its byline); a short block counts only
    # as a whole line of trafilatura's text, so "steps" (inside a kept line, not one) stays out
    assert blocks.texts == ["Home", LONG, f"{LONG} Posted by Anna in News.", "Next steps", "Share this article",
                            "steps"]
    assert teacher_labels(blocks, teacher).tolist() == [0, 1, 1, 1, 0, 0]


def test_annotations_relabel_training_blocks_only_when_asked():
    html = f"<html><body><p>{LONG}</p><p>Share this article on the networks</p><div>Menu</div></body></html>"
    blocks = parse_blocks(html)
    entry = {"with": ["Share this article"], "without": ["Menu", "the committee met"]}
    marks = annotation_marks(blocks, entry)
    assert marks.tolist() == [0, 1, -1]  # snippets match case-sensitively, as the scoring does
    page = Page("p", blocks, np.zeros((3, 1), np.float32), np.array([1, 0, 1], np.int8), entry, weight=0.5,
                marks=marks)
    labels, weights = training_targets(page, ExtractorTraining(annotation_weight=0))
    assert labels.tolist() == [1, 0, 1] and weights.tolist() == [0.5] * 3  # pure distillation
    labels, weights = training_targets(page, ExtractorTraining(annotation_weight=10))
    assert labels.tolist() == [1, 1, 0] and weights.tolist() == [0.5, 5.0, 5.0]
    assert supervision(ExtractorTraining(annotation_weight=0), True).startswith("distillation only")
    assert "annotations" in supervision(ExtractorTraining(annotation_weight=10), True)
    assert supervision(ExtractorTraining(annotation_weight=10), False).startswith("distillation only")  # crawl only


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    from demo.crawl import main as sample_crawl

    out = tmp_path_factory.mktemp("crawl")
    assert sample_crawl(["--output", str(out), "--pages", "120", "--seed", "3"]) == 0
    return out


def test_crawl_pages_are_labelled_by_the_generator(crawl):
    pages = crawl_pages(crawl)
    assert len(pages) > 50
    labels = np.concatenate([p.labels for p in pages])
    assert 0.05 < labels.mean() < 0.95  # both article and chrome blocks


def test_cross_validation_never_sees_a_scored_page_s_annotations(crawl):
    """Annotated crawl pages stand in for extraction-dev: changing the annotations of the pages one fold scores
    changes nothing in that fold's output (they only ever train the other folds' models)."""
    pages = crawl_pages(crawl)[:60]
    for page in pages:
        page.entry = {"with": [page.blocks.texts[0]], "without": [page.blocks.texts[-1]]}
        page.teacher = page.blocks.texts[0]
        page.marks = annotation_marks(page.blocks, page.entry)
    settings = ExtractorTraining(rounds=10, annotation_weight=10, threshold=0.5)
    first = cross_validate(pages, [], settings)
    assert first["repeats"] == settings.cv_repeats == 3  # each page is scored once per split, by other pages' trees
    scored = np.flatnonzero(first["fold_of"] == 0)
    for i in scored:
        pages[i].marks = -pages[i].marks
    second = cross_validate(pages, [], settings)
    assert [second["texts"][i] for i in scored] == [first["texts"][i] for i in scored]
    assert second["texts"] != first["texts"]  # the flipped marks did train the other folds


def test_the_model_reproduces_from_its_seed(crawl, tmp_path):
    settings = ExtractorTraining(rounds=20, seed=7, relative_threshold=0.6)
    for name in ("a", "b"):
        train_extractor(None, str(crawl), tmp_path / f"{name}.npz", settings)
    train_extractor(None, str(crawl), tmp_path / "c.npz", ExtractorTraining(rounds=20, seed=8))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    cards = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("a", "b")]
    assert {**cards[0], "file": ""} == {**cards[1], "file": ""}
    assert cards[0]["relative_threshold"] == 0.6 and cards[0]["supervision"].startswith("distillation only")
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()  # feature sampling follows the seed


def test_cli_trains_and_refuses_without_data(crawl, tmp_path, capsys):
    assert classifiers_main(["train", "extractor", "--crawl", str(crawl), "--output", str(tmp_path / "m.npz")]) == 0
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["kind"] == MODEL_KIND and card["metrics"]["pages"]["sample_crawl"] > 50
    assert classifiers_main(["train", "extractor", "--output", str(tmp_path / "x.npz")]) == 1
    assert "give --extraction-dev and/or --crawl" in capsys.readouterr().err


def test_shipped_model_card():
    card = json.loads(DISTILLED_MODEL.with_suffix(".json").read_text())
    data = DISTILLED_MODEL.read_bytes()
    assert card["kind"] == MODEL_KIND and card["file"] == DISTILLED_MODEL.name
    assert card["bytes"] == len(data) < 3_000_000 and card["sha256"] == hashlib.sha256(data).hexdigest()
    assert tuple(card["features"]) == FEATURE_NAMES and tuple(card["context_features"]) == CONTEXT_FEATURES
    assert card["threshold"] in THRESHOLDS and card["teacher"].startswith("trafilatura favor_precision")
    assert card["metrics"]["pages"]["extraction_dev"] == 250
    cv = card["metrics"]["cross_validation"]
    assert cv["folds"] >= 5 and cv["threshold"] == card["threshold"]
    # the test floors on real pages (tests/pipeline/extract/test_fast.py) sit under the cross-validated means
    assert cv["mean_over_folds"]["with"] >= FLOORS["with"] and cv["mean_over_folds"]["without"] >= FLOORS["without"]
    assert cv["trafilatura"]["with"] > 0.9 and cv["trafilatura"]["without"] > 0.9
    assert card["training"] == {**card["training"], "seed": ExtractorTraining().seed}
    # trained as shipped: distillation plus the dev set's annotations (by-page CV), the relative bar the run time reads
    assert card["supervision"].startswith("distillation") and "annotation" in card["supervision"]
    assert card["relative_threshold"] == ExtractorTraining().relative_threshold == 0.6
    assert cv["repeats"] >= 3 and card["training"]["annotation_weight"] > 0
