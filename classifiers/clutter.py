"""Web-clutter remover `clutter_v1`: a line-level fastText model, score = P(line is content), 0 = clutter.

Each non-blank line of an extracted text is one example. Besides the line's own words the model sees
context as pseudo-tokens (they start with '_', which `normalize` never produces for real words):
position in the document (relative tenth, distance from top and bottom), length and word-count
buckets, punctuation/digit/title-case ratios, how the line ends, the neighbours' lengths and first
words, and the document's line count. "Share this" alone is ambiguous; "Share this" as a short
title-cased last line after a long sentence is not.

Scoring and deciding are separate: `ClutterModel.score_documents` scores lines,
`classifiers.decisions.remove_clutter` drops the lines under a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import (
    FastTextClassifier,
    TrainingError,
    TrainParams,
    binary_metrics,
    label_probabilities,
    normalize,
)

CONTENT, CLUTTER = "content", "clutter"
MAX_LINE_TOKENS = 48


def content_lines(text: str) -> list[str]:
    """The lines the remover judges: every non-blank line, stripped."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def _bucket(value: float, edges: tuple[float, ...]) -> int:
    for i, edge in enumerate(edges):
        if value <= edge:
            return i
    return len(edges)


_LEN_EDGES = (10, 20, 40, 80, 160, 320, 640)
_WORD_EDGES = (1, 2, 3, 5, 8, 12, 20, 40)
_RATIO_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)


def _line_shape(line: str) -> dict[str, int]:
    n = max(len(line), 1)
    words = line.split()
    punct = sum(1 for ch in line if not ch.isalnum() and not ch.isspace())
    digits = sum(ch.isdigit() for ch in line)
    titled = sum(w[:1].isupper() for w in words)
    return {
        "len": _bucket(len(line), _LEN_EDGES),
        "nw": _bucket(len(words), _WORD_EDGES),
        "punct": _bucket(punct / n, _RATIO_EDGES),
        "digit": _bucket(digits / n, _RATIO_EDGES),
        "title": _bucket(titled / max(len(words), 1), (0.0, 0.2, 0.4, 0.6, 0.8, 0.99)),
    }


def _end_class(line: str) -> str:
    last = line[-1:]
    if last in ".!?\"'»”)":
        return "stop"
    if last == ":":
        return "colon"
    if last.isalnum():
        return "word"
    return "sym"


def line_features(lines: list[str]) -> list[str]:
    """One fastText example text per line: its tokens plus context pseudo-tokens."""
    n = len(lines)
    shapes = [_line_shape(line) for line in lines]
    tokens = [normalize(line).split()[:MAX_LINE_TOKENS] for line in lines]
    doc_size = f"_ndoc{_bucket(n, (1, 3, 6, 12, 25, 50, 100))}"
    out = []
    for i, line in enumerate(lines):
        s = shapes[i]
        feats = [
            doc_size, f"_rpos{i * 10 // max(n, 1)}", f"_top{min(i, 5)}", f"_bot{min(n - 1 - i, 5)}",
            f"_len{s['len']}", f"_wc{s['nw']}", f"_pu{s['punct']}", f"_dg{s['digit']}", f"_ti{s['title']}",
            f"_end{_end_class(line)}",
        ]
        for side, j in (("p", i - 1), ("n", i + 1)):
            if 0 <= j < n:
                feats.append(f"_{side}len{shapes[j]['len']}")
                feats.extend(f"_{side}w_{w}" for w in tokens[j][:3])
            else:
                feats.append(f"_{side}none")
        out.append(" ".join(tokens[i] + feats))
    return out


class ClutterModel(FastTextClassifier):
    """Scores lines; `max_chars` is unused (every line of a document is judged)."""

    kind = "clutter"
    labels = frozenset({CONTENT, CLUTTER})

    def score_lines(self, lines: list[str]) -> np.ndarray:
        return label_probabilities(self._model, line_features(lines), CONTENT)

    def score_documents(self, texts: list[str]) -> list[tuple[list[str], np.ndarray]]:
        """(lines, P(content) per line) per text; one fastText call for the whole batch."""
        per_doc = [content_lines(t) for t in texts]
        features = [f for lines in per_doc for f in line_features(lines)]
        scores = label_probabilities(self._model, features, CONTENT)
        out, start = [], 0
        for lines in per_doc:
            out.append((lines, scores[start:start + len(lines)]))
            start += len(lines)
        return out


    @classmethod
    def examples(cls, items: list[LabelledPage]) -> list[tuple[str, str]]:
        return page_examples(items)

    @classmethod
    def evaluate(cls, model, train: list[LabelledPage], held: list[LabelledPage]) -> dict:
        """Line accuracy and AUC over the held-out pages (pages, not lines, are held out: a page's lines are not
        independent)."""
        examples = page_examples(held)
        metrics = {"train_pages": len(train), "heldout_pages": len(held), "heldout_lines": len(examples)}
        if examples:
            metrics["heldout_accuracy"], metrics["heldout_auc"] = binary_metrics(model, examples, CONTENT)
        return metrics


@dataclass
class LabelledPage:
    """Lines of one extracted page; labels[i] is True (content), False (clutter) or None (unknown:
    used as context for its neighbours, never as an example)."""

    lines: list[str]
    labels: list[bool | None]


@dataclass(kw_only=True)
class ClutterTraining:
    holdout: float = 0.15
    params: TrainParams = field(default_factory=lambda: TrainParams(lr=0.2, epoch=15, word_ngrams=2, dim=32))


def page_examples(pages: list[LabelledPage]) -> list[tuple[str, str]]:
    examples = []
    for page in pages:
        for feature, label in zip(line_features(page.lines), page.labels, strict=True):
            if label is not None:
                examples.append((CONTENT if label else CLUTTER, feature))
    return examples


def train_clutter(pages: list[LabelledPage], output: str | Path, settings: ClutterTraining | None = None) -> dict:
    """Hold out whole pages, train, report line accuracy and AUC."""
    settings = settings or ClutterTraining()
    if not pages:
        raise TrainingError("clutter: no labelled pages")
    return ClutterModel.train(pages, output, settings.holdout, settings.params)
