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
from classifiers.decisions import keep_nonempty, keep_quality, remove_clutter
from classifiers.registry import load_model
from pipeline.stats import DropReason, Stats

OUTPUT_COLUMNS = {"quality": "float32", "category": "string", "category_score": "float32", "weight": "float32"}
_STAGES: dict[tuple, ModelStage] = {}


class ModelStage:
    def __init__(self, models_dir: str | Path, config: ClassifyConfig):
        self.config = config
        self.clutter = load_model(models_dir, config.clutter_model, "clutter") if config.clutter_model else None
        self.quality = (load_model(models_dir, config.quality_model, "quality", config.max_scored_chars)
                        if config.quality_model else None)
        self.domain = (load_model(models_dir, config.domain_model, "domain", config.max_scored_chars)
                       if config.domain_model else None)

    @property
    def categories(self) -> list[str]:
        return list(self.domain.categories) if self.domain is not None else []

    def score_batch(self, batch, stats: Stats):
        """Documents in, cleaned and scored documents out (weight still unset); drops are counted in `stats`."""
        import pyarrow as pa

        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        stats.records_in += table.num_rows
        texts = [t or "" for t in table.column("text").to_pylist()]
        if self.clutter is not None:
            cleaned = []
            for lines, scores in self.clutter.score_documents(texts):
                text, removed = remove_clutter(lines, scores, self.config.clutter_threshold)
                stats.count("clutter_lines_scored", len(lines))
                stats.count("clutter_lines_removed", removed)
                cleaned.append(text)
            texts = cleaned
        keep = keep_nonempty(texts)
        _drop(stats, DropReason.EMPTY_TEXT, int((~keep).sum()))
        quality = self.quality.predict(texts) if self.quality is not None else np.ones(len(texts), np.float32)
        passed = keep_quality(quality, self.config.min_quality)
        _drop(stats, DropReason.LOW_QUALITY, int((keep & ~passed).sum()))
        keep &= passed
        if self.domain is not None:
            kept_idx = np.flatnonzero(keep)
            names, scores = self.domain.predict([texts[i] for i in kept_idx])
            category, category_score = [""] * len(texts), np.zeros(len(texts), np.float32)
            for j, i in enumerate(kept_idx):
                category[i], category_score[i] = names[j], scores[j]
        else:
            category, category_score = [""] * len(texts), np.zeros(len(texts), np.float32)
        out = table.drop_columns([name for name in OUTPUT_COLUMNS if name in table.column_names])
        # text and n_chars are replaced where they stand: the job declares its output schema in the input's column
        # order, and Spark's mapInArrow takes columns by position
        for name, values in (("text", pa.array(texts, pa.string())),
                             ("n_chars", pa.array([len(t) for t in texts], pa.int64()))):
            index = out.column_names.index(name) if name in out.column_names else None
            out = out.set_column(index, name, values) if index is not None else out.append_column(name, values)
        out = out.append_column("quality", pa.array(quality, pa.float32()))
        out = out.append_column("category", pa.array(category, pa.string()))
        out = out.append_column("category_score", pa.array(category_score, pa.float32()))
        out = out.filter(pa.array(keep))
        stats.records_out += out.num_rows
        return out


def _drop(stats: Stats, reason: str, n: int) -> None:
    if n:
        stats.drop(reason, n)


def add_weights(table, balancer: CategoryBalancer):
    """Append `weight` (expected copies, see classifiers.balance) from each row's category."""
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if "weight" in table.column_names:
        table = table.drop_columns(["weight"])
    weights = balancer.weights(table.column("category").to_pylist())
    return table.append_column("weight", pa.array(weights, pa.float32()))


def cached_stage(models_dir: str, config: ClassifyConfig) -> ModelStage:
    """One ModelStage per Python process: Spark reuses its Python workers, so models load once per worker."""
    from pipeline.config import config_hash

    key = (str(models_dir), config_hash(config))
    if key not in _STAGES:
        _STAGES[key] = ModelStage(models_dir, config)
    return _STAGES[key]
