import random

from classifiers.clutter import ClutterModel, content_lines, line_features
from classifiers.clutter_data import label_by_reference, label_by_snippets, squash
from classifiers.decisions import remove_clutter
from tests.classifiers.textgen import TOPICS, page

# Floor for synthetic pages (clutter lines around article paragraphs, 15% of pages held out).
HELDOUT_ACCURACY_FLOOR = 0.95


def test_training_reaches_heldout_floor(small_models):
    metrics = small_models[1]["clutter"]
    assert metrics["heldout_pages"] == 30
    assert metrics["heldout_accuracy"] >= HELDOUT_ACCURACY_FLOOR


def test_clutter_lines_removed_article_lines_stay(small_models):
    model = ClutterModel.load(small_models[0] / "clutter_v1.bin")
    rng = random.Random(1234)
    pages = [page(rng, rng.choice(list(TOPICS))) for _ in range(40)]
    scored = model.score_documents(["\n".join(lines) for lines, _ in pages])
    kept_article = removed_clutter = n_article = n_clutter = 0
    for (lines, labels), (scored_lines, scores) in zip(pages, scored, strict=True):
        assert scored_lines == lines
        cleaned, _removed = remove_clutter(scored_lines, scores, 0.5)
        kept = set(cleaned.split("\n"))
        n_article += sum(labels)
        n_clutter += len(labels) - sum(labels)
        for line, is_article in zip(lines, labels, strict=True):
            kept_article += is_article and line in kept
            removed_clutter += not is_article and line not in kept
    assert kept_article / n_article >= 0.98
    assert removed_clutter / n_clutter >= 0.95


def test_features_carry_context_pseudo_tokens():
    lines = ["Home | News", "A long sentence about the experiment and its careful measurement.", "Share this"]
    features = line_features(lines)
    assert len(features) == 3
    assert "_top0" in features[0] and "_pnone" in features[0] and "_nw_a" in features[0]
    assert "_bot0" in features[2] and "_nnone" in features[2] and "_endstop" in features[1]
    assert features[1].startswith("a long sentence")


def test_content_lines_skip_blank_lines():
    assert content_lines("a\n\n  b  \n\t\n") == ["a", "b"]
    assert remove_clutter(["x", "y"], [0.9, 0.1], 0.5) == ("x", 1)


def test_labels_from_reference_and_snippets():
    lines = ["Main  text here.", "Share this", "Unknown line"]
    assert label_by_reference(lines, {squash("Main text here."), "Other"}) == [True, False, False]
    labels = label_by_snippets(lines, ["Main text"], ["Share this"])
    assert labels == [True, False, None]
    assert label_by_snippets(["Share this main text"], ["main text"], ["Share this"]) == [None]
