"""The fast extractor's training: distillation labels, reproducibility from a seed, the shipped model's card."""

import hashlib
import json

import numpy as np
import pytest

from classifiers.cli import main as classifiers_main
from classifiers.extractor import THRESHOLDS, ExtractorTraining, crawl_pages, teacher_labels, train_extractor
from pipeline.fast_extract import CONTEXT_FEATURES, DEFAULT_MODEL, FEATURE_NAMES, MODEL_KIND, parse_blocks
from tests.pipeline.test_fast_extract import FLOORS

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


def test_the_model_reproduces_from_its_seed(crawl, tmp_path):
    settings = ExtractorTraining(rounds=20, seed=7)
    for name in ("a", "b"):
        train_extractor(None, str(crawl), tmp_path / f"{name}.npz", settings)
    train_extractor(None, str(crawl), tmp_path / "c.npz", ExtractorTraining(rounds=20, seed=8))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    cards = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("a", "b")]
    assert {**cards[0], "file": ""} == {**cards[1], "file": ""}
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()  # feature sampling follows the seed


def test_cli_trains_and_refuses_without_data(crawl, tmp_path, capsys):
    assert classifiers_main(["train", "extractor", "--crawl", str(crawl), "--output", str(tmp_path / "m.npz")]) == 0
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["kind"] == MODEL_KIND and card["metrics"]["pages"]["sample_crawl"] > 50
    assert classifiers_main(["train", "extractor", "--output", str(tmp_path / "x.npz")]) == 1
    assert "give --extraction-dev and/or --crawl" in capsys.readouterr().err


def test_shipped_model_card():
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    data = DEFAULT_MODEL.read_bytes()
    assert card["kind"] == MODEL_KIND and card["file"] == DEFAULT_MODEL.name
    assert card["bytes"] == len(data) < 3_000_000 and card["sha256"] == hashlib.sha256(data).hexdigest()
    assert tuple(card["features"]) == FEATURE_NAMES and tuple(card["context_features"]) == CONTEXT_FEATURES
    assert card["threshold"] in THRESHOLDS and card["teacher"].startswith("trafilatura favor_precision")
    assert card["metrics"]["pages"]["extraction_dev"] == 250
    cv = card["metrics"]["cross_validation"]
    assert cv["folds"] >= 5 and cv["threshold"] == card["threshold"]
    # the test floors on real pages (tests/pipeline/test_fast_extract.py) sit under the cross-validated means
    assert cv["mean_over_folds"]["with"] >= FLOORS["with"] and cv["mean_over_folds"]["without"] >= FLOORS["without"]
    assert cv["trafilatura"]["with"] > 0.9 and cv["trafilatura"]["without"] > 0.9
    assert card["training"] == {**card["training"], "seed": ExtractorTraining().seed}
