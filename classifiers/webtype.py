"""Web-type classifier `webtype_v1`: what kind of page a document came from (article, forum, product, listing, ...).

A supervised fastText model over the page's words plus a few tokens that describe it beyond its text: its URL's
host and path words (`forum.`, `/product/`, `/tag/`), its title, and bucketed structure features the extract stage
keeps (link density, list items, forms, comment blocks; `PAGE_FEATURES`). The structure of a listing or a product page
says more about its type than its words do, and fastText learns that from tokens as well as from words.
`predict` returns the top type and its probability; keeping or dropping types is `classifiers.decisions`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.domain import category_label
from classifiers.fasttext_model import (
    FastTextClassifier,
    TrainParams,
    normalize,
    top_label,
)

# extract-stage column -> the feature's name in a labelled row (JSONL) and in the model's tokens
PAGE_FEATURES = {"page_link_density": "link_density", "page_list_items": "list_items", "page_forms": "forms",
                 "page_comment_blocks": "comment_blocks", "page_title": "title"}
_URL_WORD = re.compile(r"[a-z]{2,}")


def _bucket(value: float | None, edges: tuple[float, ...]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "na"
    return str(sum(value >= e for e in edges))


def page_tokens(url: str | None, features: dict | None) -> str:
    """The tokens that describe a page besides its text: URL path words, title words, bucketed structure."""
    tokens = []
    if url:  # host words too: a site's pages mostly share a type (forum.*, shop.*, docs.*)
        host, _, path = url.split("://", 1)[-1].lower().partition("/")
        tokens += [f"h_{w}" for w in _URL_WORD.findall(host.split(":", 1)[0].removeprefix("www."))[:6]]
        tokens += [f"u_{w}" for w in _URL_WORD.findall(path.split("?", 1)[0])[:12]]
    features = features or {}
    title = features.get("title") or ""
    tokens += [f"t_{w}" for w in normalize(title, 200).split()[:16]]
    if any(features.get(k) is not None for k in ("link_density", "list_items", "forms", "comment_blocks")):
        tokens += [f"f_links{_bucket(features.get('link_density'), (0.05, 0.15, 0.3, 0.5, 0.7))}",
                   f"f_lists{_bucket(features.get('list_items'), (1, 4, 10, 25, 60))}",
                   f"f_forms{_bucket(features.get('forms'), (1, 2, 4))}",
                   f"f_comments{_bucket(features.get('comment_blocks'), (1, 3, 10))}"]
    return " ".join(tokens)


def model_text(text: str, url: str | None, features: dict | None, max_chars: int) -> str:
    return f"{page_tokens(url, features)} {normalize(text or '', max_chars)}".strip()


class WebTypeModel(FastTextClassifier):
    kind = "webtype"

    @property
    def types(self) -> list[str]:
        return self.classes

    def predict(self, texts: list[str], urls: list[str | None] | None = None,
                features: list[dict] | None = None) -> tuple[list[str], np.ndarray]:
        """(top web type, its probability) per page."""
        urls = urls or [None] * len(texts)
        features = features or [{}] * len(texts)
        lines = [model_text(t, u, f, self.max_chars) for t, u, f in zip(texts, urls, features, strict=True)]
        return top_label(self._model, lines)


@dataclass(kw_only=True)
class WebTypeTraining:
    holdout: float = 0.2
    max_chars: int = 5000  # a page's type shows in its first screens
    params: TrainParams = field(default_factory=lambda: TrainParams(lr=0.1, epoch=25, word_ngrams=1))


def row_features(row: dict) -> dict:
    """The page features of a labelled row (JSONL names) or of a document row (extract's page_* columns)."""
    return {short: row.get(short, row.get(column)) for column, short in PAGE_FEATURES.items()}


def train_webtype(rows: list[dict], output: str | Path, settings: WebTypeTraining | None = None,
                  label_column: str = "web_type") -> dict:
    """Train on rows with `text`, `web_type` and optionally `url` and page features; held-out accuracy per type."""
    settings = settings or WebTypeTraining()
    items = [(category_label(r[label_column]), model_text(r.get("text") or "", r.get("url"), row_features(r),
                                                          settings.max_chars)) for r in rows]
    return WebTypeModel.train(items, output, settings.holdout, settings.params)
