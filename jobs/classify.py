"""spark-submit jobs/classify.py --input DIR --output DIR --models DIR [--config run.toml]

Models travel to executors with SparkFiles (a remote --models URL is first copied to the driver) and
load once per Python worker (`classifiers.stage.cached_stage`). Pass 1 runs clutter removal, quality
and domain in Arrow batches (mapInArrow) and counts drops per task; balancing in "share" mode needs the
category histogram, so then pass 1 is cached and counted before pass 2 adds `weight`.
"""

from __future__ import annotations

import os
import sys
import tempfile

from jobs.base import (
    UserError,
    content_digest,
    directory_archive,
    filesystem,
    merge_task_stats,
    with_skipped,
    write_partitions,
    write_task_stats,
)
from jobs.stage import RunContext, RunError, Settings, Stage, StageArgs
from pipeline.stats import Stats


class ClassifyStage(Stage):
    name = "classify"
    directory = "classified"
    description = "documents → clutter-cleaned text, quality, category, category_score, weight"
    tables = ("classify", "audit")

    def check(self, run: RunContext) -> None:
        if not _needs_models(run.config.classify) or _without_models(run):
            return
        models_fs, models_path = filesystem(run.models)
        if not models_fs.isdir(models_path):
            raise RunError(f"no classifier models at {run.models}: pass --models DIR (train them with "
                           "`sluice classifiers train ...`, see README)")

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        self.check(run)
        if not _needs_models(run.config.classify):
            return {}, ""
        if _without_models(run):
            print(f"classify: no --models and nothing at {run.models}: classify runs without models (no clutter "
                  "removal, quality 1.0, no category); train them with `sluice classifiers train`, see README")
            return {"without_models": True}, "without-models"
        return {"models": run.models}, content_digest(run.models)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--models", default=None,
                            help="directory (local or fsspec URL) with the models (needed unless every model is off)")
        parser.add_argument("--without-models", action="store_true",
                            help="switch every model off (sluice run does this when it was given no models)")

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pyspark import SparkFiles
        from pyspark.sql.types import StructField, StructType

        from classifiers.balance import CategoryBalancer, check_categories
        from classifiers.fasttext_model import ModelError
        from classifiers.stage import (
            DropShareError,
            ModelStage,
            add_weights,
            cached_stage,
            check_drop_share,
            output_columns,
        )
        from pipeline.config import ConfigError

        config = settings.classify
        if args.without_models:
            from dataclasses import replace

            config = replace(config, clutter_model="", quality_model="", domain_model="", webtype_model="")
        if args.models is None and _needs_models(config):
            raise SystemExit("classify: --models DIR is needed for the models classify names (or switch them off "
                             "with classify.clutter_model = quality_model = domain_model = \"\")")
        models_dir = _local_models(args.models) if args.models else tempfile.mkdtemp(prefix="sluice-no-models-")
        try:  # a missing or corrupt model, or a balance table that names no category of it, fails here, once
            driver_stage = ModelStage(models_dir, config)
            if config.balance.by == "web_type":
                check_categories(config.balance, driver_stage.web_types, config.webtype_model or "page_type_v1")
            else:
                check_categories(config.balance, driver_stage.categories, config.domain_model or "(none)")
        except (ModelError, ConfigError) as e:
            raise SystemExit(f"classify: {e}") from None
        shipped = directory_archive(models_dir, "sluice-models")
        spark.sparkContext.addArchive(str(shipped))  # Spark ships no directory to a cluster; an archive it unpacks
        shipped = shipped.name

        frame, skipped = self.read_input(spark, settings, args, columns=("text",))
        try:  # web types from the model, else from the extract stage's page_type column, else none
            added = output_columns(config, frame.columns)
        except ConfigError as e:
            raise SystemExit(f"classify: {e}") from None
        fields = [f for f in frame.schema.fields if f.name not in added]
        if "n_chars" not in frame.columns:  # score_batch appends it after the input's columns (any foreign corpus)
            fields.append(StructField("n_chars", _spark_type("int64"), True))
        fields += [StructField(n, _spark_type(t), True) for n, t in added.items() if n != "weight"]
        scored_schema = StructType(fields)
        weighted_schema = StructType(fields + [StructField("weight", _spark_type("float32"), True)])
        batch_rows = config.batch_rows

        audit = settings.audit

        def score(batches):
            from pyspark import TaskContext

            from pipeline.audit import DroppedSample

            stage = cached_stage(SparkFiles.get(shipped), config)
            stats, dropped = Stats(stage="classify"), DroppedSample(audit)
            for batch in batches:
                for start in range(0, batch.num_rows, batch_rows):
                    yield from stage.score_batch(batch.slice(start, batch_rows), stats, dropped).to_batches()
            write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)
            dropped.write(tmp_output, TaskContext.get().partitionId())

        scored = frame.mapInArrow(score, scored_schema)
        histogram = None
        if config.balance.mode == "share":
            scored = scored.persist()
            by = config.balance.by
            histogram = {r[by]: r["count"] for r in scored.groupBy(by).count().collect()}
        balancer = CategoryBalancer(config.balance, histogram)

        def weigh(batches):
            for batch in batches:
                yield from add_weights(batch, balancer).to_batches()

        write_partitions(scored, tmp_output, weigh, weighted_schema)
        stats = merge_task_stats(tmp_output, self.name)
        try:  # before anything is committed: a model that drops nearly everything stops the run here
            check_drop_share(stats, config)
        except DropShareError as e:
            raise UserError(str(e)) from None
        from pipeline.audit import merge_dropped

        merge_dropped(tmp_output, audit)
        stats = with_skipped(stats, skipped)
        stats.counters.update({f"category_factor.{c}": round(f, 4) for c, f in sorted(balancer.factors.items())})
        return stats


def _spark_type(arrow_name: str):
    from pyspark.sql.types import FloatType, LongType, StringType

    return {"float32": FloatType(), "string": StringType(), "int64": LongType()}[arrow_name]


def _needs_models(config) -> bool:
    return any((config.clutter_model, config.quality_model, config.domain_model, config.webtype_model))


def _without_models(run: RunContext) -> bool:
    """No --models given and no OUTPUT/models: a corpus still goes through with --input alone (classify's models
    off, said in one line), unless the config names a web-type model (its types are not the page types that
    keep/drop_web_types and balance.by = "web_type" otherwise use, which need no model)."""
    c = run.config.classify
    if run.args.models or c.webtype_model:
        return False
    models_fs, models_path = filesystem(run.models)
    return not models_fs.isdir(models_path)


def _local_models(url: str) -> str:
    """A local directory holding the models: `url` itself, or a copy of a remote one."""
    fs, path = filesystem(url)
    if not fs.isdir(path):
        raise SystemExit(f"classify: models directory not found: {url}")
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        return os.path.abspath(path)
    local = tempfile.mkdtemp(prefix="sluice-models-")
    fs.get(path.rstrip("/") + "/", local, recursive=True)
    return local


if __name__ == "__main__":
    sys.exit(ClassifyStage().main())
