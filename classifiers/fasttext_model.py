"""What the three fastText models share: text normalization, training, and loading with checks.

A trained model is two files: `<name>.bin` (fastText's own binary format, parsed by fastText's C++ code,
never unpickled) and `<name>.json`, its card: kind, labels, size and sha256 of the .bin, training
parameters and held-out metrics. fastText loads a truncated .bin without complaint and then predicts
garbage, so a model is refused unless its card is there and its size and hash match the card
(`allow_uncarded` loads one without a card, at the user's word); either way the file's structure is walked
first (`classifiers.fasttext_format`), so a lying header is an error, not a MemoryError, and the labels are
checked against what the model kind needs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from classifiers.fasttext_format import FastTextFormatError, check_fasttext_file
from pipeline.shards.format import file_sha256

log = logging.getLogger("sluice.classifiers")

LABEL_PREFIX = "__label__"
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class ModelError(ValueError):
    """A model file is missing, corrupt or of the wrong kind; the message names the file."""


class TrainingError(ValueError):
    """A labelled set cannot train a model (one class, too few rows, diverged); the message says why."""


def normalize(text: str, max_chars: int | None = None) -> str:
    """One line of lowercased tokens with punctuation split off: fastText reads whitespace-separated
    tokens and treats a newline as the end of an example."""
    if max_chars is not None:
        text = text[:max_chars]
    return " ".join(_TOKEN.findall(text.lower()))


@dataclass(kw_only=True)
class TrainParams:
    """fastText hyper-parameters; `bucket` and `dim` bound the model size (bucket*dim*4 bytes)."""

    lr: float = 0.2
    epoch: int = 10
    dim: int = 64
    word_ngrams: int = 2
    min_count: int = 1
    bucket: int = 200_000
    loss: str = "softmax"
    threads: int = 1
    seed: int = 1


def train_fasttext(examples: list[tuple[str, str]], output: str | Path, kind: str, params: TrainParams,
                   metrics: dict | None = None):
    """Train on (label, normalized text) pairs and write `output` plus its card; returns the fastText model."""
    import fasttext

    labels = sorted({label for label, _ in examples})
    if len(labels) < 2:
        raise TrainingError(f"{kind}: the labelled set has one class ({labels[0] if labels else 'none'}); "
                            "a classifier needs examples of at least two")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for label, text in examples:
            f.write(f"{LABEL_PREFIX}{label} {text}\n")
        train_path = f.name
    try:
        model, used = _train_with_retries(fasttext, train_path, params, kind, len(examples))
    finally:
        os.unlink(train_path)
    model.save_model(str(output))
    write_card(output, kind=kind, labels=labels, params=used, metrics=metrics or {})
    return model


# fasttext-numpy2 0.10.4 raises "Encountered NaN" on some small sets before training gets going, whatever the lr
# or seed, yet trains the same set with character n-grams or a wider dim; these are tried in turn, and the card
# records the settings that trained the model.
_NAN_RETRIES: tuple[dict, ...] = ({}, {"minn": 3, "maxn": 5}, {"dim": 64}, {"dim": 100, "minn": 2, "maxn": 4})

# Each training runs in a fresh interpreter: in one long-lived process, whether fastText hits NaN (and so which
# fallback setting trains the model) was seen to depend on what the process had trained before, which made the
# same labelled set give different models in a test run and alone. A child process costs ~0.3 s per model.
_TRAIN_IN_CHILD = (
    "import json, sys\n"
    "import fasttext\n"
    "settings = json.loads(sys.argv[3])\n"
    "try:\n"
    "    fasttext.train_supervised(input=sys.argv[1], verbose=0, **settings).save_model(sys.argv[2])\n"
    "except RuntimeError as e:\n"
    "    print(e, file=sys.stderr)\n"
    "    sys.exit(3 if 'NaN' in str(e) else 4)\n"
)


def _train_with_retries(fasttext, train_path: str, params: TrainParams, kind: str, n_examples: int):
    import subprocess
    import sys

    base = {"lr": params.lr, "epoch": params.epoch, "dim": params.dim, "wordNgrams": params.word_ngrams,
            "minCount": params.min_count, "bucket": params.bucket, "loss": params.loss, "thread": params.threads,
            "seed": params.seed, "minn": 0, "maxn": 0}
    model_path = train_path + ".bin"
    try:
        for extra in _NAN_RETRIES:
            settings = {**base, **extra, "dim": max(base["dim"], extra.get("dim", 0))}
            child = subprocess.run([sys.executable, "-c", _TRAIN_IN_CHILD, train_path, model_path,
                                    json.dumps(settings)], capture_output=True, text=True, check=False)
            if child.returncode == 0:
                return fasttext.load_model(model_path), settings
            if child.returncode != 3:
                raise TrainingError(f"{kind}: fastText training failed: {child.stderr.strip()[-500:]}")
            log.warning("%s: fastText hit NaN with %s; retrying", kind, extra or "the given settings")
    finally:
        if os.path.exists(model_path):
            os.unlink(model_path)
    raise TrainingError(f"{kind}: training diverged (NaN) on {n_examples} examples with every fallback setting; "
                        f"the vocabulary is probably tiny: use more realistic text, or a lower lr than {params.lr}")


def card_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def write_card(model_path: str | Path, **fields) -> None:
    model_path = Path(model_path)
    card = {"file": model_path.name, "bytes": model_path.stat().st_size, "sha256": file_sha256(model_path), **fields}
    card_path(model_path).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def update_card_metrics(model_path: str | Path, metrics: dict) -> None:
    path = card_path(model_path)
    card = json.loads(path.read_text())
    card["metrics"] = {**card.get("metrics", {}), **metrics}
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")


def read_card(model_path: str | Path) -> dict | None:
    """The card beside a model, None when there is none; ModelError when it is there but not a card."""
    path = card_path(model_path)
    if not path.exists():
        return None
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: model card is not valid JSON: {e}") from None
    if not isinstance(card, dict) or not isinstance(card.get("bytes"), int) or not isinstance(card.get("sha256"), str):
        raise ModelError(f"{path}: not a model card (no bytes and sha256 of the model)")
    return card


def load_fasttext(path: str | Path, kind: str, required_labels: set[str] | None = None, allow_uncarded: bool = False):
    """Load a fastText model after checking that it is whole and has the labels `kind` needs."""
    import fasttext

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: {kind} model file not found")
    card = read_card(path)
    if card is None and not allow_uncarded:
        raise ModelError(f"{path}: {kind} model has no card {card_path(path).name} (size, sha256, labels), so "
                         "nothing says it is whole; retrain it with `sluice classifiers train`, or set "
                         "classify.allow_uncarded_models = true to load it unchecked")
    if card is not None:
        size = path.stat().st_size
        if card["bytes"] != size or card["sha256"] != file_sha256(path):
            raise ModelError(f"{path}: {kind} model file is corrupt or truncated "
                             f"({size} bytes; its card {card_path(path).name} says {card['bytes']})")
        if card.get("kind") not in (None, kind):
            raise ModelError(f"{path}: is a {card.get('kind')} model, not a {kind} model")
    try:
        check_fasttext_file(path)
    except FastTextFormatError as e:
        raise ModelError(f"{path}: not a fastText model file ({e})") from None
    try:
        model = fasttext.load_model(str(path))
    except (ValueError, MemoryError) as e:
        raise ModelError(f"{path}: not a fastText model file ({e})") from None
    labels = {label.removeprefix(LABEL_PREFIX) for label in model.get_labels()}
    if required_labels is not None and not required_labels <= labels:
        raise ModelError(f"{path}: {kind} model needs labels {sorted(required_labels)}, the file has {sorted(labels)}")
    if len(labels) < 2:
        raise ModelError(f"{path}: {kind} model has fewer than two labels ({sorted(labels)})")
    return model


class FastTextClassifier:
    """A fastText model of one kind: loading with every check, and training with a held-out split.

    A subclass names its `kind` and the `labels` its model must have, and may override the two training hooks:
    `examples(items)` turns labelled items into (label, fastText text) pairs (default: they are such pairs
    already), `evaluate(model, train, held)` measures the trained model on the held-out items (default: top-1
    accuracy, overall and per class). Items are held out whole (a page of clutter lines, a document), so the
    reported metrics describe the model that is saved."""

    kind = ""
    labels: frozenset[str] | None = None  # None: any two or more

    def __init__(self, model, path: str, max_chars: int = 20000):
        self._model = model
        self.path = path
        self.max_chars = max_chars
        self.classes = sorted(label.removeprefix(LABEL_PREFIX) for label in model.get_labels())

    @classmethod
    def load(cls, path: str | Path, max_chars: int = 20000, allow_uncarded: bool = False):
        return cls(load_fasttext(path, cls.kind, cls.labels, allow_uncarded), str(path), max_chars)

    @classmethod
    def examples(cls, items: list) -> list[tuple[str, str]]:
        return items  # (label, model text) already

    @classmethod
    def evaluate(cls, model, train: list, held: list) -> dict:
        """Top-1 accuracy on the held-out (label, text) pairs, overall and per class, with the class counts."""
        from collections import Counter

        counts = Counter(label for label, _ in train + held)
        per_class: dict[str, list[int]] = {}
        if held:
            predicted, _ = model.predict([text for _, text in held], k=1)
            for row, (label, _) in zip(predicted, held, strict=True):
                hit = per_class.setdefault(label, [0, 0])
                hit[0] += row[0] == LABEL_PREFIX + label
                hit[1] += 1
        correct = sum(h for h, _ in per_class.values())
        return {
            "classes": len(counts),
            "smallest_class": min(counts.values()),
            "train_rows": len(train),
            "heldout_rows": len(held),
            "heldout_accuracy": round(correct / len(held), 4) if held else None,
            "heldout_accuracy_per_type": {c: round(h / n, 4) for c, (h, n) in sorted(per_class.items())},
            "heldout_rows_per_type": {c: n for c, (_, n) in sorted(per_class.items())},
            "rows_per_type": dict(sorted(counts.items())),
        }

    @classmethod
    def train(cls, items: list, output: str | Path, holdout: float, params: TrainParams) -> dict:
        """Train on `items` minus a held-out split, write the model and its card; the metrics go on the card."""
        train_idx, held_idx = split_holdout(len(items), holdout, params.seed)
        train, held = [items[i] for i in train_idx], [items[i] for i in held_idx]
        model = train_fasttext(cls.examples(train), output, cls.kind, params)
        metrics = cls.evaluate(model, train, held)
        update_card_metrics(output, metrics)
        log.info("%s: %s", cls.kind, metrics)
        return metrics


def top_label(model, lines: list[str]):
    """(most likely label without its prefix, its probability) per model input line."""
    import numpy as np

    if not lines:
        return [], np.zeros(0, dtype=np.float32)
    labels, probs = model.predict(lines, k=1)
    names = [row[0].removeprefix(LABEL_PREFIX) if row else "" for row in labels]
    scores = np.array([min(float(p[0]), 1.0) if len(p) else 0.0 for p in probs], dtype=np.float32)
    return names, scores


def label_probabilities(model, texts: list[str], label: str):
    """P(label) for each text (fastText's softmax over all labels)."""
    import numpy as np

    if not texts:
        return np.zeros(0, dtype=np.float32)
    labels, probs = model.predict(texts, k=-1)
    wanted = LABEL_PREFIX + label
    out = np.empty(len(texts), dtype=np.float32)
    for i, (row_labels, row_probs) in enumerate(zip(labels, probs, strict=True)):
        out[i] = next((p for lab, p in zip(row_labels, row_probs, strict=True) if lab == wanted), 0.0)
    return np.clip(out, 0.0, 1.0)


def binary_metrics(model, examples: list[tuple[str, str]], positive: str) -> tuple[float | None, float]:
    """(accuracy of P(positive) >= 0.5, AUC of P(positive)) on held-out (label, model text) pairs, to 4 places;
    accuracy None and AUC nan when there are none."""
    import numpy as np

    scores = label_probabilities(model, [text for _, text in examples], positive)
    truth = np.array([label == positive for label, _ in examples])
    accuracy = round(float(((scores >= 0.5) == truth).mean()), 4) if examples else None
    return accuracy, round(auc(scores, truth), 4)


def auc(scores, positives) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties averaged; no scikit-learn needed."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def split_holdout(n: int, fraction: float, seed: int):
    """Deterministic train/held-out index split."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    n_held = max(1, round(n * fraction)) if n > 1 else 0
    return np.sort(order[n_held:]), np.sort(order[:n_held])
