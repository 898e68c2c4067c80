"""What the three fastText models share: text normalization, training, and loading with checks.

A trained model is two files: `<name>.bin` (fastText's own binary format, parsed by fastText's C++ code,
never unpickled) and `<name>.json`, its card: kind, labels, size and sha256 of the .bin, training
parameters and held-out metrics. fastText loads a truncated .bin without complaint and then predicts
garbage, so when a card is present its size and hash are checked before loading; labels are checked
against what the model kind needs either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    path = card_path(model_path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: model card is not valid JSON: {e}") from None


def load_fasttext(path: str | Path, kind: str, required_labels: set[str] | None = None):
    """Load a fastText model after checking that it is whole and has the labels `kind` needs."""
    import fasttext

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: {kind} model file not found")
    card = read_card(path)
    if card is not None:
        size = path.stat().st_size
        if card.get("bytes") != size or card.get("sha256") != file_sha256(path):
            raise ModelError(f"{path}: {kind} model file is corrupt or truncated "
                             f"({size} bytes; its card {card_path(path).name} says {card.get('bytes')})")
        if card.get("kind") not in (None, kind):
            raise ModelError(f"{path}: is a {card.get('kind')} model, not a {kind} model")
    try:
        model = fasttext.load_model(str(path))
    except ValueError as e:
        raise ModelError(f"{path}: not a fastText model file ({e})") from None
    labels = {label.removeprefix(LABEL_PREFIX) for label in model.get_labels()}
    if required_labels is not None and not required_labels <= labels:
        raise ModelError(f"{path}: {kind} model needs labels {sorted(required_labels)}, the file has {sorted(labels)}")
    if len(labels) < 2:
        raise ModelError(f"{path}: {kind} model has fewer than two labels ({sorted(labels)})")
    return model


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
