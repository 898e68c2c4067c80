"""Training the fast extractor's block model by distillation from trafilatura, with a by-page cross-validation.

Distillation: a block of a real page is "content" when trafilatura(favor_precision), the project's default
extractor, keeps its text; a block of a sample-crawl page is content when the generator wrote it as article text
(known exactly). On top of it (annotation_weight > 0, the default; recorded on the card as "supervision") the
extraction-dev annotations of the *training* pages: a block holding a "with" snippet is content, one holding a
"without" snippet is boilerplate, whatever trafilatura did, and those blocks weigh annotation_weight. The pages a fold
is scored on are never trained on, so their annotations never reach their model. annotation_weight = 0 is pure
distillation, with no hand labels at all.

The model is LightGBM trees over pipeline.extract.fast's block features; its card records the features, the decision
threshold, the training data and the cross-validated snippet rates on ../shared/data/extraction-dev, measured with
pages never seen in training (k folds by page; the sample crawl is in every fold's training set).

    sluice classifiers train extractor --extraction-dev ../shared/data/extraction-dev --crawl CRAWL --output m.npz
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from classifiers.fasttext_model import TrainingError

log = logging.getLogger("sluice.classifiers")

TEACHER_TIMEOUT_S = 120.0
SHORT_BLOCK = 20  # shorter blocks count as kept only when trafilatura has them as a whole line, not inside one
COVERAGE = 0.5  # share of a block's word trigrams trafilatura must have kept for the block to count as kept
THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.2, 0.81, 0.05))


@dataclass(kw_only=True)
class ExtractorTraining:
    # Small, regularised trees: in the cross-validation 80 x 15 leaves did as well as 150 x 31 or 400 x 31 (250 pages
    # from ~250 sites reward generalising), and scoring costs rows x trees, so small trees keep the fast path fast.
    # members > 1 averages that many boosters (seeds seed, seed + 1, ...) of `rounds` trees each, stored as one
    # ensemble of members x rounds trees. CV (3 splits x 5 folds, annotations 10, relative 0.6), with / without:
    # 1 x 80 0.925 / 0.930, 2 x 40 0.928 / 0.927, 2 x 50 0.928 / 0.927, 3 x 50 0.927 / 0.930, 1 x 100 0.923 / 0.930:
    # all within the splits' noise (~0.005), so 80 trees: scoring is ~20% of the fast path's time and grows with them.
    rounds: int = 40
    members: int = 2
    leaves: int = 15
    learning_rate: float = 0.15
    min_child_samples: int = 60
    feature_fraction: float = 0.5
    seed: int = 1
    folds: int = 5
    cv_repeats: int = 3  # k-fold runs on different page splits, averaged (see cross_validate)
    inner_folds: int = 4  # out-of-fold first-pass scores train the second pass
    second_pass: bool = False  # measured: no better in the cross-validation, and twice the scoring time
    crawl_weight: float = 0.2  # sample-crawl blocks count this much: synthetic pages, unlike real ones
    # 0: pure distillation. > 0: training pages' "with"/"without" snippets relabel the blocks holding them (see the
    # module docstring), which weigh this much; in the CV 10 gained ~0.02 "with" and ~0.015 "without" over 0.
    annotation_weight: float = 10.0
    # > 0: a page whose best block scores under threshold / relative_threshold keeps its blocks from
    # relative_threshold x its best score (keep_blocks), so a page the trees are unsure of still yields its article.
    # Recorded on the card, which the run-time decision reads (pipeline.extract.fast.keep_blocks). 0.6: +0.006
    # "with", +0.002 "without" in the CV (7 dev pages came out empty without it).
    relative_threshold: float = 0.6
    threshold: float | None = None  # None: the threshold with the best cross-validated min(with, without) margin


@dataclass
class Page:
    """One training page: its blocks' features and labels; `entry` is the extraction-dev annotation (None: crawl)."""

    key: str
    blocks: object  # pipeline.extract.blocks.PageBlocks
    features: np.ndarray
    labels: np.ndarray
    entry: dict | None = None
    teacher: str = ""
    weight: float = 1.0
    marks: np.ndarray | None = None  # per block: 1 holds a "with" snippet, -1 a "without" one (and no "with"), 0


def annotation_marks(blocks, entry: dict) -> np.ndarray:
    """Per block: 1 when it holds one of the page's "with" snippets, else -1 when it holds a "without" one, else 0
    (a block with both is content: the snippets it must keep outweigh)."""
    with_ = [squash(s) for s in entry["with"]]
    without = [squash(s) for s in entry["without"]]
    marks = np.zeros(len(blocks), dtype=np.int8)
    for i, text in enumerate(blocks.texts):
        text = squash(text)
        if any(s in text for s in with_):
            marks[i] = 1
        elif any(s in text for s in without):
            marks[i] = -1
    return marks


def training_targets(page: Page, settings: ExtractorTraining) -> tuple[np.ndarray, np.ndarray]:
    """(labels, weights) a page's blocks train with: the teacher's labels, overridden by the annotation marks when
    settings.annotation_weight > 0 (and the page has annotations)."""
    labels = page.labels
    weights = np.full(len(labels), page.weight, np.float32)
    if settings.annotation_weight > 0 and page.marks is not None:
        labels = np.where(page.marks > 0, 1, np.where(page.marks < 0, 0, labels)).astype(np.int8)
        weights = np.where(page.marks != 0, settings.annotation_weight * page.weight, weights).astype(np.float32)
    return labels, weights


def squash(text: str) -> str:
    return " ".join(text.split())


def _unbullet(line: str) -> str:
    return line[2:] if line.startswith(("- ", "* ")) else line


def _trigrams(words: list[str]) -> set[tuple[str, str, str]]:
    return set(zip(words, words[1:], words[2:], strict=False))


def teacher_labels(blocks, teacher: str) -> np.ndarray:
    """1 where trafilatura kept the block: a block of >= 4 words when most of its word trigrams are in
    trafilatura's text (it often keeps a block minus a byline or a link list inside it), a shorter one when it is a
    line of trafilatura's text or, from SHORT_BLOCK characters, inside one."""
    whole = squash(teacher)
    lines = {_unbullet(squash(line)) for line in teacher.split("\n")}
    grams = _trigrams(whole.split())
    labels = np.zeros(len(blocks), dtype=np.int8)
    for i, text in enumerate(blocks.texts):
        words = text.split()
        if len(words) >= 4:
            block_grams = _trigrams(words)
            labels[i] = len(block_grams & grams) >= COVERAGE * len(block_grams)
        else:
            text = squash(text)
            labels[i] = text in lines or (len(text) >= SHORT_BLOCK and text in whole)
    return labels


def _page(key: str, html: str, labeller, entry: dict | None = None, teacher: str = "") -> Page | None:
    from pipeline.extract.fast import FastParseError, block_features, parse_blocks

    try:
        blocks = parse_blocks(html)
    except FastParseError:
        return None
    if not len(blocks):
        return None
    return Page(key, blocks, block_features(blocks), labeller(blocks), entry, teacher)


def dev_annotations(root: str | Path) -> tuple[list[tuple[str, dict]], object]:
    """The extraction-dev annotations (page key, entry), sorted by key, and the teacher that labels their blocks:
    trafilatura(favor_precision), on these news-style pages the better one (0.935 "without" absent against 0.906 for
    its defaults), with the project's settings but a generous time limit: on a busy machine a page must not lose its
    labels to a timeout."""
    from pipeline.extract.main_text import ExtractConfig, TextExtractor

    path = Path(root) / "evaldata-dev.json"
    if not path.is_file():
        raise TrainingError(f"{path}: not found (is {root} the extraction-dev folder?)")
    teacher = TextExtractor(ExtractConfig(timeout_s=TEACHER_TIMEOUT_S, favor_precision=True, page_type=False))
    return sorted(json.loads(path.read_text()).items()), teacher


def dev_pages(root: str | Path) -> list[Page]:
    """The extraction-dev pages, labelled by the teacher of `dev_annotations`."""
    from pipeline.extract.main_text import decode_html

    root = Path(root)
    entries, teacher = dev_annotations(root)
    pages = []
    for key, entry in entries:
        html = decode_html(gzip.decompress((root / "html" / entry["file"]).read_bytes())) or ""
        text, _reason = teacher.extract_html(html, None, key.split("::")[-1])
        page = _page(key, html, lambda b, t=text or "": teacher_labels(b, t), entry, text or "")
        if page is None:  # no blocks: still scored (nothing found), never trained on
            page = Page(key, None, np.zeros((0, 0), np.float32), np.zeros(0, np.int8), entry, text or "")
        else:
            page.marks = annotation_marks(page.blocks, entry)
        pages.append(page)
    return pages


def crawl_pages(crawl: str | Path) -> list[Page]:
    """Intact HTML pages of a `sluice sample-crawl` output, labelled by the generator's article lines."""
    from classifiers.labelled_crawl import html_records
    from pipeline.extract.main_text import decode_html

    pages = []
    for _url, label, body, _content_type in html_records(crawl):
        if not label.get("article_lines"):
            continue
        html = decode_html(body) or ""
        article = {_unbullet(squash(s)) for s in label["article_lines"]}
        page = _page(label["url"], html, lambda b, a=article: np.fromiter(
            (_unbullet(squash(t)) in a for t in b.texts), dtype=np.int8, count=len(b)))
        if page is not None:
            pages.append(page)
    return pages


def train_trees(pages: list[Page], settings: ExtractorTraining, context: list[np.ndarray] | None = None):
    """One LightGBM ensemble on the pages' block features (plus `context` columns per page), as a TreeEnsemble."""
    import lightgbm

    from pipeline.extract.block_trees import TreeEnsemble

    features = np.vstack([p.features if context is None else np.hstack([p.features, c])
                          for p, c in zip(pages, context or [None] * len(pages), strict=True)])
    targets = [training_targets(p, settings) for p in pages]
    labels = np.concatenate([t[0] for t in targets])
    weights = np.concatenate([t[1] for t in targets])
    if labels.min() == labels.max():
        raise TrainingError("extractor: every training block has the same label")
    params = {
        "objective": "binary", "num_leaves": settings.leaves, "learning_rate": settings.learning_rate,
        "min_child_samples": settings.min_child_samples, "feature_fraction": settings.feature_fraction,
        "seed": settings.seed, "deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1,
    }
    # Tag categories stay numeric: the run-time kernel (pipeline/extract/block_trees.py) has numerical splits only.
    dumps = []
    for member in range(settings.members):
        data = lightgbm.Dataset(features, labels, weight=weights)
        booster = lightgbm.train({**params, "seed": settings.seed + member}, data, num_boost_round=settings.rounds)
        dumps.append(booster.dump_model())
    if len(dumps) == 1:
        return TreeEnsemble.from_lightgbm(dumps[0])
    # the mean of the members' raw scores = one ensemble of all their trees with every leaf divided by their number
    for dump in dumps:
        for tree in dump["tree_info"]:
            _scale_leaves(tree["tree_structure"], 1.0 / len(dumps))
    return TreeEnsemble.from_lightgbm({"tree_info": [tree for dump in dumps for tree in dump["tree_info"]]})


def _scale_leaves(node: dict, factor: float) -> None:
    stack = [node]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            stack += [node["left_child"], node["right_child"]]
        else:
            node["leaf_value"] = node.get("leaf_value", 0.0) * factor


def _folds(n: int, k: int, seed: int) -> np.ndarray:
    fold_of = np.empty(n, dtype=int)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return fold_of


def train_model(pages: list[Page], settings: ExtractorTraining) -> dict:
    """{"first": trees on block features, "second": trees on features + context of out-of-fold first scores}."""
    from pipeline.extract.fast import context_features

    pages = [p for p in pages if p.blocks is not None]
    first = train_trees(pages, settings)
    if not settings.second_pass:
        return {"first": first}
    fold_of = _folds(len(pages), settings.inner_folds, settings.seed + 1)
    context: list[np.ndarray] = [np.zeros(0)] * len(pages)
    for fold in range(settings.inner_folds):
        trees = train_trees([p for p, f in zip(pages, fold_of, strict=True) if f != fold], settings)
        for i in np.flatnonzero(fold_of == fold):
            context[i] = context_features(trees.probabilities(pages[i].features), pages[i].blocks)
    return {"first": first, "second": train_trees(pages, settings, context)}


def page_text(page: Page, scores: np.ndarray, threshold: float, relative: float = 0.0) -> str:
    from pipeline.extract.fast import blocks_to_text, keep_blocks

    if page.blocks is None:  # unparseable or no blocks: at run time the fast extractor hands it to trafilatura
        return page.teacher
    return blocks_to_text(page.blocks, keep_blocks(scores, threshold, relative))


def snippet_hits(text: str, entry: dict) -> tuple[int, int]:
    """(with snippets found, without snippets absent) in one page's output, upstream's way (whitespace squashed)."""
    text = squash(text)
    found = sum(bool(text) and squash(s) in text for s in entry["with"])
    absent = sum(not (text and squash(s) in text) for s in entry["without"])
    return found, absent


def rates(texts: list[str], pages: list[Page]) -> dict:
    hits = [snippet_hits(t, p.entry) for t, p in zip(texts, pages, strict=True)]
    n_with = sum(len(p.entry["with"]) for p in pages)
    n_without = sum(len(p.entry["without"]) for p in pages)
    return {"with": sum(h[0] for h in hits) / n_with, "without": sum(h[1] for h in hits) / n_without}


def _out_of_fold_scores(dev: list[Page], extra: list[Page], settings: ExtractorTraining,
                        fold_of: np.ndarray) -> list[np.ndarray]:
    from pipeline.extract.fast import block_scores

    scores: list[np.ndarray] = [np.zeros(0)] * len(dev)
    for fold in range(settings.folds):
        train = [p for p, f in zip(dev, fold_of, strict=True) if f != fold] + extra
        model = train_model(train, settings)
        for i in np.flatnonzero(fold_of == fold):
            if dev[i].blocks is not None:
                scores[i] = block_scores(model, dev[i].features, dev[i].blocks)
    return scores


def cross_validate(dev: list[Page], extra: list[Page], settings: ExtractorTraining) -> dict:
    """k folds by page over `dev`; every fold trains on the other folds plus `extra` and scores its own pages.
    With cv_repeats > 1 the whole k-fold run is repeated with other page splits (seed + r) and the rates are the
    mean over repeats x folds: one split of 250 pages moves the rates by ~0.005, more than most settings do."""
    splits = [_folds(len(dev), settings.folds, settings.seed + r) for r in range(max(1, settings.cv_repeats))]
    runs = [(fold_of, _out_of_fold_scores(dev, extra, settings, fold_of)) for fold_of in splits]
    relative = settings.relative_threshold
    by_threshold = {}
    for threshold in THRESHOLDS:
        folds = []
        for fold_of, scores in runs:
            for fold in range(settings.folds):
                members = [i for i in range(len(dev)) if fold_of[i] == fold]
                texts = [page_text(dev[i], scores[i], threshold, relative) for i in members]
                folds.append(rates(texts, [dev[i] for i in members]))
        by_threshold[threshold] = {k: float(np.mean([f[k] for f in folds])) for k in ("with", "without")}
    teacher = rates([p.teacher for p in dev], dev)
    threshold = settings.threshold
    if threshold is None:
        threshold = max(THRESHOLDS, key=lambda t: min(by_threshold[t]["with"] - teacher["with"],
                                                       by_threshold[t]["without"] - teacher["without"]))
    fold_of, scores = runs[0]  # per-page comparisons: the first split's out-of-fold texts
    texts = [page_text(p, s, threshold, relative) for p, s in zip(dev, scores, strict=True)]
    wins_losses = _per_page(dev, texts)
    return {"folds": settings.folds, "repeats": len(runs), "threshold": threshold,
            "mean_over_folds": by_threshold[threshold], "by_threshold": {str(t): v for t, v in by_threshold.items()},
            "trafilatura": teacher, "per_page_vs_trafilatura": wins_losses, "fold_of": fold_of, "texts": texts}


def _per_page(dev: list[Page], texts: list[str]) -> dict:
    """Pages where the model's snippet hits beat / trail trafilatura's (with + without hits per page)."""
    wins, losses = [], []
    for page, text in zip(dev, texts, strict=True):
        ours, theirs = sum(snippet_hits(text, page.entry)), sum(snippet_hits(page.teacher, page.entry))
        if ours > theirs:
            wins.append(page.key)
        elif ours < theirs:
            losses.append(page.key)
    return {"wins": len(wins), "losses": len(losses), "ties": len(dev) - len(wins) - len(losses),
            "win_pages": wins[:20], "loss_pages": losses[:20]}


def supervision(settings: ExtractorTraining, annotated: bool) -> str:
    """The card's word on where the labels came from."""
    if settings.annotation_weight > 0 and annotated:
        return ("distillation + extraction-dev annotations of the training pages "
                f"(blocks with a snippet relabelled, weight {settings.annotation_weight:g})")
    return "distillation only (no hand labels)"


def train_extractor(extraction_dev: str | None, crawl: str | None, output: str | Path,
                    settings: ExtractorTraining | None = None) -> dict:
    """Cross-validate (when extraction-dev is given), train on everything, write the model and its card."""
    from pipeline.extract.block_trees import save_ensembles
    from pipeline.extract.fast import CONTEXT_FEATURES, FEATURE_NAMES, MODEL_KIND

    settings = settings or ExtractorTraining()
    dev = dev_pages(extraction_dev) if extraction_dev else []
    extra = crawl_pages(crawl) if crawl else []
    for page in extra:
        page.weight = settings.crawl_weight
    if not dev and not extra:
        raise TrainingError("extractor: give --extraction-dev and/or --crawl")
    metrics: dict = {"pages": {"extraction_dev": len(dev), "sample_crawl": len(extra)}}
    threshold = settings.threshold if settings.threshold is not None else 0.5
    if dev:
        cv = cross_validate(dev, extra, settings)
        threshold = cv["threshold"]
        metrics["cross_validation"] = {k: v for k, v in cv.items() if k not in ("fold_of", "texts")}
    model = train_model(dev + extra, settings)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_ensembles(output, model)
    card = {"kind": MODEL_KIND, "file": output.name, "bytes": output.stat().st_size,
            "sha256": hashlib.sha256(output.read_bytes()).hexdigest(), "threshold": threshold,
            "relative_threshold": settings.relative_threshold,
            "features": list(FEATURE_NAMES), "context_features": list(CONTEXT_FEATURES),
            "teacher": "trafilatura favor_precision, include_tables",
            "supervision": supervision(settings, bool(dev)),
            "training": asdict(settings), "blocks": int(sum(len(p.labels) for p in dev + extra)), "metrics": metrics}
    output.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return metrics
