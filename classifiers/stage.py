"""The model stage on one Arrow batch: clutter removal → quality → domain, then balancing weights.

This is the code the Spark job runs inside mapInArrow and the code tests run in plain Python, so the
two cannot disagree. Classifiers score; the decisions (drop lines under the clutter threshold, drop
documents under min_quality, drop documents left empty) are the small functions in
`classifiers.decisions`, applied here in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifiers.balance import CategoryBalancer
from classifiers.config import ClassifyConfig
from classifiers.decisions import keep_nonempty, keep_quality, keep_web_types, remove_clutter
from classifiers.registry import load_model
from pipeline.config import ConfigError
from pipeline.stats import DropReason, Stats

EMPTY_INPUT = "empty_input_text"  # counter: documents that arrived empty (their drop is no model's doing)
OUTPUT_COLUMNS = {"quality": "float32", "category": "string", "category_score": "float32", "weight": "float32"}
# written from classify.webtype_model when it is set, else from the extract stage's page_type columns when the input
# has them (the page-type model, pipeline.extract.page_type: the default web type)
WEBTYPE_COLUMNS = {"web_type": "string", "web_type_score": "float32"}
PAGE_TYPE, PAGE_TYPE_SCORE = "page_type", "page_type_score"
_STAGES: dict[tuple, ModelStage] = {}


class DropShareError(ValueError):
    """A model would drop more of the stage's input than classify.max_drop_share allows; names the model."""


class ModelStage:
    def __init__(self, models_dir: str | Path, config: ClassifyConfig):
        self.config = config

        def load(name: str, role: str):
            return load_model(models_dir, name, role, config.max_scored_chars,
                              config.allow_uncarded_models) if name else None

        self.clutter = load(config.clutter_model, "clutter")
        self.quality = load(config.quality_model, "quality")
        self.domain = load(config.domain_model, "domain")
        self.webtype = load(config.webtype_model, "webtype")

    @property
    def categories(self) -> list[str]:
        return list(self.domain.categories) if self.domain is not None else []

    @property
    def web_types(self) -> list[str]:
        """The web types this stage can write: the web-type model's, else the page-type model's."""
        from pipeline.extract.page_type import PAGE_TYPES

        return list(self.webtype.types) if self.webtype is not None else list(PAGE_TYPES)

    def score_batch(self, batch, stats: Stats, dropped=None):
        """Documents in, cleaned and scored documents out (weight still unset); drops are counted in `stats`, and
        the first of each reason kept in `dropped` (a pipeline.audit.DroppedSample; value: the quality score)."""
        import pyarrow as pa

        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        stats.records_in += table.num_rows
        texts = [t or "" for t in table.column("text").to_pylist()]
        page_texts = texts  # the web type reads the page as extracted: its clutter lines are part of its type
        _count(stats, EMPTY_INPUT, sum(not t.strip() for t in texts))  # empty before any model saw them
        if self.clutter is not None:
            cleaned = []
            for lines, scores in self.clutter.score_documents(texts):
                text, removed = remove_clutter(lines, scores, self.config.clutter_threshold)
                stats.count("clutter_lines_scored", len(lines))
                stats.count("clutter_lines_removed", removed)
                cleaned.append(text)
            texts = cleaned
        keep = keep_nonempty(texts)
        reasons = np.where(keep, None, DropReason.EMPTY_TEXT).astype(object)
        _drop(stats, DropReason.EMPTY_TEXT, int((~keep).sum()))
        quality = self.quality.predict(texts) if self.quality is not None else np.ones(len(texts), np.float32)
        passed = keep_quality(quality, self.config.min_quality)
        _drop(stats, DropReason.LOW_QUALITY, int((keep & ~passed).sum()))
        reasons[keep & ~passed] = DropReason.LOW_QUALITY
        keep &= passed
        typed = has_web_types(self.config, table.column_names)
        if typed:
            web_type, web_type_score = self._web_types(table, page_texts, keep)
            allowed = keep_web_types(web_type, self.config.keep_web_types, self.config.drop_web_types)
            _drop(stats, DropReason.WEB_TYPE, int((keep & ~allowed).sum()))
            reasons[keep & ~allowed] = DropReason.WEB_TYPE
            keep &= allowed
        if self.domain is not None:
            kept_idx = np.flatnonzero(keep)
            names, scores = self.domain.predict([texts[i] for i in kept_idx])
            category, category_score = [""] * len(texts), np.zeros(len(texts), np.float32)
            for j, i in enumerate(kept_idx):
                category[i], category_score[i] = names[j], scores[j]
        else:
            category, category_score = [""] * len(texts), np.zeros(len(texts), np.float32)
        added = output_columns(self.config, table.column_names)
        out = table.drop_columns([name for name in added if name in table.column_names])
        # text and n_chars are replaced where they stand: the job declares its output schema in the input's column
        # order, and Spark's mapInArrow takes columns by position
        for name, values in (("text", pa.array(texts, pa.string())),
                             ("n_chars", pa.array([len(t) for t in texts], pa.int64()))):
            index = out.column_names.index(name) if name in out.column_names else None
            out = out.set_column(index, name, values) if index is not None else out.append_column(name, values)
        out = out.append_column("quality", pa.array(quality, pa.float32()))
        out = out.append_column("category", pa.array(category, pa.string()))
        out = out.append_column("category_score", pa.array(category_score, pa.float32()))
        if typed:
            out = out.append_column("web_type", pa.array(web_type, pa.string()))
            out = out.append_column("web_type_score", pa.array(web_type_score, pa.float32()))
        if dropped is not None and not keep.all():
            _keep_dropped(dropped, table, page_texts, quality, reasons)
        out = out.filter(pa.array(keep))
        stats.records_out += out.num_rows
        return out


    def _web_types(self, table, texts: list[str], keep: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(web type, score) of the rows still kept; "" and 0 for the others. Without a web-type model, the page
        type the extract stage wrote (an untyped page: ""); with one, its prediction, which reads the URL and the
        extract stage's page_* columns when the input has them."""
        from classifiers.webtype import PAGE_FEATURES

        idx = np.flatnonzero(keep)
        names = table.column_names
        if self.webtype is None:
            types = table.column(PAGE_TYPE).to_pylist()
            scores = table.column(PAGE_TYPE_SCORE).to_pylist() if PAGE_TYPE_SCORE in names else [None] * len(types)
            web_type = [(types[i] or "") if keep[i] else "" for i in range(len(types))]
            web_type_score = np.array([(scores[i] or 0.0) if keep[i] and types[i] else 0.0 for i in range(len(types))],
                                      np.float32)
            return web_type, web_type_score
        urls = table.column("url").to_pylist() if "url" in names else [None] * table.num_rows
        present = {c: table.column(c).to_pylist() for c in PAGE_FEATURES if c in names}
        features = [{PAGE_FEATURES[c]: values[i] for c, values in present.items()} for i in idx]
        types, scores = self.webtype.predict([texts[i] for i in idx], [urls[i] for i in idx], features)
        web_type, web_type_score = [""] * len(texts), np.zeros(len(texts), np.float32)
        for j, i in enumerate(idx):
            web_type[i], web_type_score[i] = types[j], scores[j]
        return web_type, web_type_score


def _keep_dropped(dropped, table, texts: list[str], quality: np.ndarray, reasons: np.ndarray) -> None:
    ids = table.column("id").to_pylist() if "id" in table.column_names else [""] * table.num_rows
    urls = table.column("url").to_pylist() if "url" in table.column_names else [""] * table.num_rows
    for i in np.flatnonzero(reasons != None):  # noqa: E711 (element-wise on an object array)
        dropped.add(reasons[i], reasons[i], str(ids[i] or ""), urls[i] or "", texts[i], float(quality[i]))


def has_web_types(config: ClassifyConfig, input_columns) -> bool:
    """Whether the stage writes web_type: from its web-type model, else from an input typed by the extract stage.
    A config that filters or balances by web type on an input with neither is a ConfigError, in one line."""
    if config.webtype_model or PAGE_TYPE in input_columns:
        return True
    if config.keep_web_types or config.drop_web_types or config.balance.by == "web_type":
        raise ConfigError("classify.keep_web_types / drop_web_types / balance.by = \"web_type\" need web types: the "
                          "input has no page_type column (a corpus not extracted from HTML by the extract stage, or "
                          "extracted with [extract] page_type = false) and classify.webtype_model is not set")
    return False


def output_columns(config: ClassifyConfig, input_columns) -> dict[str, str]:
    """The columns the stage adds to an input with `input_columns` (weight last): the web-type pair when
    has_web_types."""
    extra = WEBTYPE_COLUMNS if has_web_types(config, input_columns) else {}
    return {**{k: v for k, v in OUTPUT_COLUMNS.items() if k != "weight"}, **extra, "weight": "float32"}


def check_drop_share(stats: Stats, config: ClassifyConfig) -> None:
    """DropShareError when the stage dropped more than max_drop_share of its input, naming the model that dropped
    most: a broken or mismatched model (a quality model for another language, a clutter model that removes
    every line) then stops the run instead of producing near-empty shards."""
    dropped = sum(stats.dropped.values())
    if not stats.records_in or dropped <= config.max_drop_share * stats.records_in:
        return
    n, model, reason = max(
        (stats.dropped.get(DropReason.LOW_QUALITY, 0), config.quality_model or "(none)", DropReason.LOW_QUALITY),
        (stats.dropped.get(DropReason.EMPTY_TEXT, 0) - stats.counters.get(EMPTY_INPUT, 0),
         config.clutter_model or "(none)", "every line removed as clutter"))
    raise DropShareError(
        f"classify: model {model} would drop {n:,} of {stats.records_in:,} documents ({reason}), "
        f"{dropped / stats.records_in:.1%} dropped in all, more than classify.max_drop_share = "
        f"{config.max_drop_share}; nothing was written. Check the model against this corpus, or raise the limit")


def _drop(stats: Stats, reason: str, n: int) -> None:
    if n:
        stats.drop(reason, n)


def _count(stats: Stats, key: str, n: int) -> None:
    if n:
        stats.count(key, n)


def add_weights(table, balancer: CategoryBalancer):
    """Append `weight` (expected copies, see classifiers.balance) from each row's category."""
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if "weight" in table.column_names:
        table = table.drop_columns(["weight"])
    weights = balancer.weights(table.column(balancer.config.by).to_pylist())
    return table.append_column("weight", pa.array(weights, pa.float32()))


def cached_stage(models_dir: str, config: ClassifyConfig) -> ModelStage:
    """One ModelStage per Python process: Spark reuses its Python workers, so models load once per worker."""
    from pipeline.config import config_hash

    key = (str(models_dir), config_hash(config))
    if key not in _STAGES:
        _STAGES[key] = ModelStage(models_dir, config)
    return _STAGES[key]
