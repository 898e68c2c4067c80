"""The fast extractor trained on real annotations: WCXB-format pages (../shared/data/wcxb-dev) with their full
main-content ground truth, plus the page-type classifier whose probabilities the block trees read.

Supervision: a block is content when most of its word trigrams are in the page's ground-truth main content (token
overlap; `overlap_labels`), a short block when it is a whole line of it (or, from two words, inside it). No teacher
extractor is involved (extraction-dev pages: see below). Page types: boosted trees over pipeline.extract.page_type's
page signals (URL, title, JSON-LD/og:type, structure counts, repeated-card groups, aggregated block features), one
ensemble per type.

Cross-validation is by domain (GroupKFold: no domain in both a training and a test fold): the page-type model's
out-of-fold probabilities are what the block trees train on (so they learn to trust a type as much as it deserves),
and the block trees are scored on their fold's pages by the benchmark's word F1, per page type. With extraction-dev
(classifiers/extraction_dev_wcxb.py) its pages join the block trees' training, split by domain into the same number
of folds and paired with WCXB's fold by fold, so each is scored (with/without snippet rates) by trees that never saw
its domain.

    sluice classifiers train extractor --wcxb ../shared/data/wcxb-dev --extraction-dev ../shared/data/extraction-dev \
        --output extractor_v4.npz
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from classifiers.extraction_dev_wcxb import dev_domain, snippet_rates
from classifiers.fasttext_model import TrainingError
from classifiers.wcxb import PAGE_TYPES, WcxbPage, load_pages, score, tokens

log = logging.getLogger("sluice.classifiers")
# (threshold, relative threshold) pairs the CV scores (pipeline.extract.fast.keep_blocks)
SETTINGS = tuple((t, r) for t in (0.4, 0.5, 0.6, 0.7) for r in (0.6, 0.7, 0.75, 0.9))


@dataclass(kw_only=True)
class WcxbTraining:
    # Measured by 5-fold by-domain CV on wcxb-dev (1,469 parseable pages): 150 x 31 leaves with the type
    # probabilities as features gave word F1 0.855 at threshold 0.6 (trafilatura defaults 0.823 on the same pages).
    rounds: int = 150
    leaves: int = 31
    learning_rate: float = 0.1
    min_child_samples: int = 40
    feature_fraction: float = 0.5
    type_rounds: int = 300
    type_leaves: int = 15
    type_learning_rate: float = 0.05
    # A second pass reading the first pass's scores around each block (pipeline.extract.fast.context_features),
    # trained on out-of-fold first-pass scores (inner by-domain folds): +0.006 WCXB F1, listings and collections most.
    second_stage: bool = True
    inner_folds: int = 3
    # extraction-dev pages (when given): each block weighs extraction_dev_weight, a snippet-marked block
    # annotation_weight times that (classifiers/extraction_dev_wcxb.py).
    extraction_dev_weight: float = 3.0
    annotation_weight: float = 10.0
    threshold: float | None = None  # None: the (threshold, relative) with the best cross-validated mean word F1
    relative_threshold: float = 0.6
    article_by_extraction_dev: bool = True  # pages typed article get the setting extraction-dev's CV prefers
    article_min_with: float = 0.927  # the floor for extraction-dev's "with" rate
    folds: int = 5
    seed: int = 1
    limit: int = 0  # > 0: only the first `limit` pages of each type (tests)


@dataclass
class TrainingPage:
    page: WcxbPage | None  # None: an extraction-dev page (`entry` holds its snippets)
    blocks: object | None  # pipeline.extract.blocks.PageBlocks; None: no blocks (trafilatura's at run time)
    features: np.ndarray
    signals: np.ndarray
    labels: np.ndarray
    entry: dict | None = None
    url: str = ""
    teacher: str = ""  # extraction-dev: trafilatura's text (the labels' source, the text of a page without blocks)
    marks: np.ndarray | None = None  # extraction-dev: per block 1 holds a `with` snippet, -1 a `without` one, 0

    @property
    def domain(self) -> str:
        return self.page.domain if self.page is not None else dev_domain(self.url)


def overlap_labels(texts: list[str], reference: str) -> np.ndarray:
    """1 per block whose text is in `reference` (see the module docstring)."""
    ref = tokens(reference)
    grams = set(zip(ref, ref[1:], ref[2:], strict=False))
    lines = {" ".join(tokens(line)) for line in reference.split("\n")}
    joined = " " + " ".join(ref) + " "
    out = np.zeros(len(texts), np.int8)
    for i, text in enumerate(texts):
        words = tokens(text)
        if len(words) >= 4:
            block = set(zip(words, words[1:], words[2:], strict=False))
            out[i] = len(block & grams) >= 0.5 * len(block)
        elif words:
            phrase = " ".join(words)
            out[i] = phrase in lines or (len(words) >= 2 and f" {phrase} " in joined)
    return out


def training_pages(root: str | Path, limit: int = 0) -> list[TrainingPage]:
    from classifiers.wcxb import sample
    from pipeline.extract.fast import FastParseError, block_features, parse_page
    from pipeline.extract.main_text import decode_html
    from pipeline.extract.page_type import page_signals, signal_names

    pages = load_pages(root)
    if limit:
        pages = sample(pages, limit)
    out = []
    for page in pages:
        html = decode_html(_raw(page)) or ""
        try:
            tree, blocks = parse_page(html)
        except FastParseError:
            tree, blocks = None, None
        if blocks is None or not len(blocks):
            out.append(TrainingPage(page, None, np.zeros((0, 0), np.float32),
                                    np.zeros(len(signal_names()), np.float32), np.zeros(0, np.int8)))
            continue
        features = block_features(blocks)
        out.append(TrainingPage(page, blocks, features, page_signals(html, page.url, tree, blocks, features),
                                overlap_labels(blocks.texts, page.main_content)))
    return out


def _raw(page: WcxbPage) -> bytes:
    import gzip

    return gzip.decompress(page.html_path.read_bytes())


def _lgb_params(settings: WcxbTraining, **extra) -> dict:
    return {"verbose": -1, "num_threads": 1, "seed": settings.seed, "deterministic": True, "force_row_wise": True,
            **extra}


def train_page_type(pages: list[TrainingPage], settings: WcxbTraining) -> dict:
    """{type: TreeEnsemble} from one multiclass LightGBM booster (tree i belongs to class i mod 7)."""
    import lightgbm

    from pipeline.extract.block_trees import TreeEnsemble

    x = np.stack([p.signals for p in pages])
    y = np.array([PAGE_TYPES.index(p.page.page_type) for p in pages])
    params = _lgb_params(settings, objective="multiclass", num_class=len(PAGE_TYPES), num_leaves=settings.type_leaves,
                         learning_rate=settings.type_learning_rate, min_child_samples=10, feature_fraction=0.5)
    dump = lightgbm.train(params, lightgbm.Dataset(x, y), settings.type_rounds).dump_model()
    trees = dump["tree_info"]
    return {t: TreeEnsemble.from_lightgbm({"tree_info": trees[k::len(PAGE_TYPES)]}) for k, t in enumerate(PAGE_TYPES)}


def _block_matrix(page: TrainingPage, type_probabilities: np.ndarray) -> np.ndarray:
    from pipeline.extract.fast import with_page_type

    return with_page_type(page.features, type_probabilities)


def block_targets(page: TrainingPage, settings: WcxbTraining) -> tuple[np.ndarray, np.ndarray]:
    """(labels, weights) of a page's blocks: WCXB pages their overlap labels at weight 1; extraction-dev pages the
    teacher's labels overridden by the snippet marks (classifiers/extraction_dev_wcxb.py)."""
    if page.marks is None:
        return page.labels, np.ones(len(page.labels), np.float32)
    labels = np.where(page.marks > 0, 1, np.where(page.marks < 0, 0, page.labels)).astype(np.int8)
    weight = settings.extraction_dev_weight
    return labels, np.where(page.marks != 0, settings.annotation_weight * weight, weight).astype(np.float32)


def train_blocks(pages: list[TrainingPage], type_probabilities, settings: WcxbTraining) -> dict:
    """{"first": TreeEnsemble} and, with settings.second_stage, "second": trees over the block features plus the
    first pass's context, trained on first-pass scores from inner by-domain folds (as they are on unseen pages)."""
    import lightgbm
    from sklearn.model_selection import GroupKFold

    from pipeline.extract.block_trees import TreeEnsemble
    from pipeline.extract.fast import context_features

    xs = [_block_matrix(p, q) for p, q in zip(pages, type_probabilities, strict=True)]
    targets = [block_targets(p, settings) for p in pages]
    if len({int(v) for y, _w in targets for v in np.unique(y)}) < 2:
        raise TrainingError("extractor: every training block has the same label")
    params = _lgb_params(settings, objective="binary", num_leaves=settings.leaves,
                         learning_rate=settings.learning_rate, min_child_samples=settings.min_child_samples,
                         feature_fraction=settings.feature_fraction)

    def fit(rows, context=None):
        x = np.vstack([xs[j] if context is None else np.hstack([xs[j], context[j]]) for j in rows])
        y = np.concatenate([targets[j][0] for j in rows])
        weight = np.concatenate([targets[j][1] for j in rows])
        return lightgbm.train(params, lightgbm.Dataset(x, y, weight=weight), settings.rounds)

    every = range(len(pages))
    out = {"first": TreeEnsemble.from_lightgbm(fit(every).dump_model())}
    if settings.second_stage:
        context: list = [None] * len(pages)
        groups = [p.domain for p in pages]
        for train, test in GroupKFold(n_splits=settings.inner_folds).split(np.zeros(len(pages)), groups=groups):
            booster = fit(train)
            for j in test:
                context[j] = context_features(booster.predict(xs[j]), pages[j].blocks)
        out["second"] = TreeEnsemble.from_lightgbm(fit(every, context).dump_model())
    return out


def _texts(pages: list[TrainingPage], scores: list, setting: tuple[float, float]) -> list[str]:
    from pipeline.extract.fast import blocks_to_text, keep_blocks

    return [p.teacher if p.blocks is None else blocks_to_text(p.blocks, keep_blocks(s, *setting))
            for p, s in zip(pages, scores, strict=True)]


def _by_domain(pages: list[TrainingPage], folds: int) -> list:
    from sklearn.model_selection import GroupKFold

    if not pages:
        return [([], [])] * folds
    groups = [p.domain for p in pages]
    return list(GroupKFold(n_splits=folds).split(np.zeros(len(pages)), groups=groups))


def cross_validate(pages: list[TrainingPage], settings: WcxbTraining, dev: list[TrainingPage] = ()) -> tuple:
    """By-domain k-fold over the WCXB pages and, paired fold by fold, the extraction-dev pages (`dev`): page-type
    accuracy, word F1 per type of the block trees and the extraction-dev snippet rates at each (threshold, relative)
    setting. Returns the metrics and the out-of-fold type probabilities of the WCXB and the dev pages (what the
    final block trees train on)."""
    from pipeline.extract.fast import block_scores
    from pipeline.extract.page_type import softmax_scores

    parsed = [p for p in pages if p.blocks is not None]
    dev = [p for p in dev if p.blocks is not None]
    folds, dev_folds = _by_domain(parsed, settings.folds), _by_domain(dev, settings.folds)
    types, dev_types = np.zeros((len(parsed), len(PAGE_TYPES))), np.zeros((len(dev), len(PAGE_TYPES)))
    for (train, test), (_dev_train, dev_test) in zip(folds, dev_folds, strict=True):
        model = train_page_type([parsed[i] for i in train], settings)
        types[test] = softmax_scores(model, np.stack([parsed[i].signals for i in test]))
        if len(dev_test):
            dev_types[dev_test] = softmax_scores(model, np.stack([dev[i].signals for i in dev_test]))
    scores: list = [None] * len(parsed)
    dev_scores: list = [None] * len(dev)
    for (train, test), (dev_train, dev_test) in zip(folds, dev_folds, strict=True):
        trees = train_blocks([parsed[i] for i in train] + [dev[i] for i in dev_train],
                             [types[i] for i in train] + [dev_types[i] for i in dev_train], settings)
        for i in test:
            scores[i] = block_scores(trees, _block_matrix(parsed[i], types[i]), parsed[i].blocks)
        for i in dev_test:
            dev_scores[i] = block_scores(trees, _block_matrix(dev[i], dev_types[i]), dev[i].blocks)
    truth = np.array([PAGE_TYPES.index(p.page.page_type) for p in parsed])
    hits = types.argmax(axis=1) == truth
    metrics = {"folds": settings.folds, "split": "GroupKFold by domain", "pages": len(parsed),
               "page_type_accuracy": float(hits.mean()),
               "page_type_accuracy_by_type": {t: float(hits[truth == k].mean()) for k, t in enumerate(PAGE_TYPES)
                                              if (truth == k).any()},
               "word_f1_by_setting": {}}
    for setting in SETTINGS:
        key = f"{setting[0]}/{setting[1]}"
        result = score(_texts(parsed, scores, setting), [p.page for p in parsed])
        metrics["word_f1_by_setting"][key] = {k: {m: round(v[m], 4) for m in ("f1", "with", "without")}
                                              for k, v in result.items()}
    by_setting = metrics["word_f1_by_setting"]
    chosen = (settings.threshold, settings.relative_threshold)
    if settings.threshold is None:
        chosen = max(SETTINGS, key=lambda s: by_setting[f"{s[0]}/{s[1]}"]["all"]["f1"])
    typed = {}
    if dev and settings.article_by_extraction_dev:
        # Pages typed article: the setting that leaves out most of extraction-dev's "without" snippets while finding
        # at least article_min_with of its "with" ones (extraction-dev is mostly articles; its "without" snippets
        # are the boilerplate that WCXB's word F1 barely sees). None qualifies: the best mean of the two rates.
        article = dev_types.argmax(axis=1) == PAGE_TYPES.index("article")

        def dev_rates(setting):
            texts = [_texts([p], [s], setting if a else chosen)[0]
                     for p, s, a in zip(dev, dev_scores, article, strict=True)]
            return snippet_rates(texts, dev)

        rated = {s: dev_rates(s) for s in SETTINGS}
        metrics["extraction_dev_by_article_setting"] = {f"{s[0]}/{s[1]}": r for s, r in rated.items()}
        floor = [s for s in SETTINGS if rated[s]["with"] >= settings.article_min_with]
        typed["article"] = (max(floor, key=lambda s: (rated[s]["without"], rated[s]["with"])) if floor
                            else max(SETTINGS, key=lambda s: rated[s]["with"] + rated[s]["without"]))
        metrics["extraction_dev_cross_validation"] = rated[typed["article"]]
    texts = _texts(parsed, scores, chosen)
    for name, setting in typed.items():
        chosen_type = types.argmax(axis=1) == PAGE_TYPES.index(name)
        texts = [_texts([p], [s], setting)[0] if c else t
                 for p, s, c, t in zip(parsed, scores, chosen_type, texts, strict=True)]
    metrics["threshold"], metrics["relative_threshold"] = chosen
    metrics["type_thresholds"] = {t: list(s) for t, s in typed.items()}
    metrics["cross_validation"] = {k: {m: round(v[m], 4) for m in ("f1", "with", "without")}
                                   for k, v in score(texts, [p.page for p in parsed]).items()}
    return metrics, types, dev_types


def train_wcxb_extractor(root: str | Path, output: str | Path, settings: WcxbTraining | None = None,
                         extraction_dev: str | Path | None = None) -> dict:
    """Cross-validate, train the page-type model and the block trees on every page, write both with their cards:
    OUTPUT (.npz + .json) and page_type_v1.npz (+ .json) beside it. `extraction_dev`: that folder's annotated
    pages train the block trees too and are cross-validated alongside (never the page-type model)."""
    from classifiers.extraction_dev_wcxb import extraction_dev_pages
    from pipeline.extract.block_trees import save_ensembles
    from pipeline.extract.fast import CONTEXT_FEATURES, MODEL_KIND, TYPED_FEATURE_NAMES
    from pipeline.extract.page_type import MODEL_KIND as TYPE_KIND
    from pipeline.extract.page_type import signal_names

    settings = settings or WcxbTraining()
    pages = training_pages(root, settings.limit)
    parsed = [p for p in pages if p.blocks is not None]
    if len({p.page.page_type for p in parsed}) < 2 or len({p.page.domain for p in parsed}) < settings.folds:
        raise TrainingError(f"extractor: {root} has too few page types or domains to train and cross-validate")
    dev = []
    if extraction_dev:
        dev = [p for p in extraction_dev_pages(extraction_dev, 7 * settings.limit) if p.blocks is not None]
    metrics, oof_types, dev_types = cross_validate(pages, settings, dev)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    source = {"data": f"WCXB-format pages in {Path(root).name} ({len(pages)} pages, {len(parsed)} with blocks)",
              "supervision": "block token-trigram overlap with the ground-truth main content (no teacher)",
              "pages_by_type": {t: sum(p.page.page_type == t for p in pages) for t in PAGE_TYPES}}
    type_path = output.parent / "page_type_v1.npz"
    save_ensembles(type_path, train_page_type(parsed, settings))
    _write_card(type_path, {"kind": TYPE_KIND, "signals": list(signal_names()), "types": list(PAGE_TYPES), **source,
                            "metrics": {k: metrics[k] for k in ("split", "folds", "pages", "page_type_accuracy",
                                                                "page_type_accuracy_by_type")}})
    if dev:
        source["data"] += f" + extraction-dev pages in {Path(extraction_dev).name} ({len(dev)} with blocks)"
        source["supervision"] += ("; extraction-dev: trafilatura(favor_precision) block labels overridden by the "
                                  "with/without snippets")
    trees = train_blocks(parsed + dev, np.vstack([oof_types, dev_types]), settings)
    save_ensembles(output, trees)
    _write_card(output, {"kind": MODEL_KIND, "threshold": metrics["threshold"],
                         "relative_threshold": metrics["relative_threshold"],
                         "type_thresholds": metrics["type_thresholds"],
                         "features": list(TYPED_FEATURE_NAMES), "context_features": list(CONTEXT_FEATURES),
                         "page_type_model": type_path.name, **source, "training": asdict(settings),
                         "blocks": int(sum(len(p.labels) for p in parsed + dev)), "metrics": metrics})
    return metrics


def _write_card(path: Path, card: dict) -> None:
    data = path.read_bytes()
    card = {**card, "file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
