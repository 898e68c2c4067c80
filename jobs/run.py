"""`sluice run` (or `spark-submit jobs/run.py`): extract → dedup → classify → tokenize, one Spark session.

The input's kind is read from its bytes: WARC/ARC files start with extract; a document corpus (Parquet, JSON
lines, Arrow, a Hugging Face dataset folder) starts with filter, which applies extract's rule filters to it.

Each stage writes OUTPUT/<dir>/ and records the hash of everything that decided its output (its config
tables, the hash of the stage before it, its inputs, models or tokenizer) in `_stage.json`. A rerun skips a
stage whose output is complete with the same hash and redoes a stage whose hash changed — and so every stage
after it, since their hashes chain. A run killed mid-stage left only a `.tmp-*` directory, so that stage is
simply done again.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from dataclasses import dataclass

from jobs.base import (
    STAGE_FILE,
    UserError,
    check_output,
    content_digest,
    filesystem,
    output_is_complete,
    ship_packages,
    spark_session,
)
from jobs.run_config import RunConfig
from pipeline.config import ConfigError, config_hash, defaults_toml
from pipeline.corpus.detect import expand_corpus, input_kind
from pipeline.shards.format import ShardError
from pipeline.warc.reader import expand_inputs

log = logging.getLogger("sluice.pipeline")


class RunError(Exception):
    """A user error found while preparing a stage (a missing model directory, ...): one line, exit code 2."""


@dataclass
class RunContext:
    """What the stages of one `sluice run` share: its arguments, config and what earlier stages did."""

    args: argparse.Namespace
    config: RunConfig
    out: str
    models: str
    tokenizer: str
    auto_tokenizer: bool  # trained by the run into OUTPUT/tokenizer.json, not given by the user
    ran_upstream: bool = False  # a stage before this one ran in this invocation: an auto-trained tokenizer is stale
    current: str = ""  # the stage being prepared or run, for an error's one line


@dataclass(frozen=True)
class Stage:
    """One stage of the run. `prepare` is its hook: the job arguments beyond --input/--output/--config, and what
    besides config and upstream decides its output (hashed into _stage.json)."""

    name: str
    directory: str
    job: str  # module:class
    sections: tuple[str, ...]  # the RunConfig tables this stage reads

    def enabled(self, config: RunConfig) -> bool:
        return True

    def inputs(self, run: RunContext, previous: str) -> list[str]:
        return [previous]

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        return [], ""

    def check(self, run: RunContext) -> None:
        """RunError for a user error this stage can name before Spark starts (a missing models directory, ...)."""


class ExtractStage(Stage):
    def inputs(self, run: RunContext, previous: str) -> list[str]:
        return list(run.args.input)

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        from pipeline.warc.reader import expand_inputs

        # The hash records the files the patterns match now; the job gets the patterns themselves, so a file
        # that vanishes after this listing is counted as missing_input there instead of failing the run
        extra = json.dumps(expand_inputs(run.args.input))
        if run.config.extract.extractor == "fast":  # the model decides what is content: retraining redoes the stage
            from pipeline.extract.fast import DEFAULT_MODEL

            extra += content_digest(run.config.extract.fast_model or str(DEFAULT_MODEL))
        return [], extra


class FilterStage(Stage):
    def inputs(self, run: RunContext, previous: str) -> list[str]:
        return list(run.args.input)

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        from pipeline.corpus.detect import expand_corpus

        return [], json.dumps(expand_corpus(run.args.input))  # the files the patterns match now, as extract's


class ClassifyStage(Stage):
    def check(self, run: RunContext) -> None:
        if not _needs_models(run.config.classify) or _without_models(run):
            return
        models_fs, models_path = filesystem(run.models)
        if not models_fs.isdir(models_path):
            raise RunError(f"no classifier models at {run.models}: pass --models DIR (train them with "
                           "`sluice classifiers train ...`, see README)")

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        self.check(run)
        if not _needs_models(run.config.classify):
            return [], ""
        if _without_models(run):
            print(f"classify: no --models and nothing at {run.models}: classify runs without models (no clutter "
                  "removal, quality 1.0, no category); train them with `sluice classifiers train`, see README")
            return ["--without-models"], "without-models"
        return ["--models", run.models], content_digest(run.models)


def _needs_models(config) -> bool:
    return any((config.clutter_model, config.quality_model, config.domain_model, config.webtype_model))


def _without_models(run: RunContext) -> bool:
    """No --models given and no OUTPUT/models: a corpus still goes through with --input alone (classify's models
    off, said in one line), unless the config asks for what only a model gives (web types to keep or drop)."""
    c = run.config.classify
    if run.args.models or c.keep_web_types or c.drop_web_types or c.balance.by == "web_type":
        return False
    models_fs, models_path = filesystem(run.models)
    return not models_fs.isdir(models_path)


class SemDedupStage(Stage):
    def enabled(self, config: RunConfig) -> bool:
        return config.semdedup.enabled

    @staticmethod
    def _encoder_dir(run: RunContext) -> str | None:
        """The directory of a packaged or path-given sentence encoder (its files decide the vectors), else None."""
        from pathlib import Path

        from classifiers.embedding import PACKAGED_ENCODERS, packaged_encoder_dir
        from classifiers.fasttext_model import ModelError

        encoder = run.config.semdedup.model
        if encoder in PACKAGED_ENCODERS:
            try:
                return str(packaged_encoder_dir(encoder))
            except ModelError as e:
                raise RunError(f"semdedup: {e}") from None
        return encoder if Path(encoder).is_dir() else None

    def check(self, run: RunContext) -> None:
        encoder = run.config.semdedup.model
        models_fs, models_path = filesystem(run.models)
        if self._encoder_dir(run) is None and not models_fs.isdir(models_path):
            raise RunError(f"semdedup: no models at {run.models} for the embedding model {encoder!r}: pass "
                           "--models DIR (train it with `sluice classifiers train embedding`, see README)")

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        self.check(run)
        encoder_dir = self._encoder_dir(run)
        models_fs, models_path = filesystem(run.models)
        has_models = models_fs.isdir(models_path)
        args = ["--models", run.models] if has_models else []
        if encoder_dir:
            return args, content_digest(encoder_dir) + (content_digest(run.models) if has_models else "")
        return args, content_digest(run.models)


class TokenizeStage(Stage):
    def check(self, run: RunContext) -> None:
        tokenizer_fs, tokenizer_path = filesystem(run.tokenizer)
        if not run.auto_tokenizer and not tokenizer_fs.isfile(tokenizer_path):
            raise RunError(f"tokenizer file not found: {run.tokenizer}")

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        if run.auto_tokenizer:  # trained again unless trained from this very input and [tokenize] keys
            from jobs.run_tokenizer import ensure_trained

            ensure_trained(previous, run.tokenizer, run.config.tokenize, run.ran_upstream)
        return ["--tokenizer", run.tokenizer], content_digest(run.tokenizer)


class DecontaminateStage(Stage):
    def enabled(self, config: RunConfig) -> bool:
        return config.decontaminate.enabled

    def prepare(self, run: RunContext, previous: str) -> tuple[list[str], str]:
        from pipeline.decontaminate.eval_sets import EvalSetError, eval_set_digests

        try:  # the evaluation sets' contents decide the output: a changed set redoes this stage
            return [], eval_set_digests(run.config.decontaminate.eval_sets)
        except EvalSetError as e:
            raise RunError(str(e)) from None


STAGES: tuple[Stage, ...] = (
    ExtractStage("extract", "documents", "jobs.extract:ExtractJob", ("extract", "filters", "pii", "audit")),
    Stage("dedup", "deduped", "jobs.dedup:DedupJob", ("dedup", "integrity", "audit")),
    SemDedupStage("semdedup", "semdeduped", "jobs.semdedup:SemDedupJob", ("semdedup", "integrity")),
    ClassifyStage("classify", "classified", "jobs.classify:ClassifyJob", ("classify", "integrity", "audit")),
    DecontaminateStage("decontaminate", "decontaminated", "jobs.decontaminate:DecontaminateJob",
                       ("decontaminate", "integrity")),
    TokenizeStage("tokenize", "shards", "jobs.tokenize_shards:TokenizeJob", ("tokenize", "integrity")),
)
# The first stage for a document corpus, in extract's place (same output folder: both write documents).
FILTER_STAGE = FilterStage("filter", "documents", "jobs.filter:FilterJob", ("input", "filters", "pii", "audit"))


def stages_for(kind: str) -> tuple[Stage, ...]:
    """The stages of a run over `kind` ("warc" or "documents") input."""
    return (FILTER_STAGE, *STAGES[1:]) if kind == "documents" else STAGES


def _job(stage: Stage):
    module, cls = stage.job.split(":")
    return getattr(importlib.import_module(module), cls)()


def recorded_hash(output: str) -> str | None:
    fs, path = filesystem(output)
    try:
        with fs.open(f"{path}/{STAGE_FILE}") as f:
            return json.load(f).get("config_hash")
    except FileNotFoundError:
        return None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluice run", description="WARC files or a document corpus → tokenized shards")
    p.add_argument("--input", required=True, nargs="+",
                   help="WARC/ARC files, or a document corpus (Parquet, JSON lines, Arrow files or a Hugging Face "
                        "dataset folder): files, globs, directories or URLs; the kind is read from the bytes")
    p.add_argument("--output", required=True, help="run directory: documents/ deduped/ classified/ shards/ go here")
    p.add_argument("--config", default=None, help="run.toml (see `sluice config --defaults`)")
    p.add_argument("--models", default=None, help="classifier models directory (default: OUTPUT/models)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: trained on the corpus into OUTPUT)")
    p.add_argument("--master", default=None, help="Spark master, e.g. spark://host:7077 (default local[*])")
    p.add_argument("--force", action="store_true", help="redo every stage")
    p.add_argument("--until", choices=[s.name for s in (FILTER_STAGE, *STAGES)], default="tokenize",
                   help="last stage to run (extract and filter both mean the first)")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        config = RunConfig.load(args.config)  # every table checked before any Spark work starts
        check_output(args.output)
        kind = input_kind(expand_corpus(args.input), config.input.format)  # read from the files' first bytes
        if kind == "warc":
            expand_inputs(args.input)  # a pattern that matches nothing is named before Spark starts
    except (ConfigError, UserError, FileNotFoundError) as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    stages = stages_for(kind)
    until = stages[0].name if args.until in ("extract", "filter") else args.until
    out = args.output.rstrip("/")
    run = RunContext(args=args, config=config, out=out, models=args.models or f"{out}/models",
                     tokenizer=args.tokenizer or config.tokenize.tokenizer or f"{out}/tokenizer.json",
                     auto_tokenizer=not args.tokenizer and not config.tokenize.tokenizer)
    try:  # what the stages to run need, named before Spark starts
        for stage in stages[:[s.name for s in stages].index(until) + 1]:
            if stage.enabled(config):
                stage.check(run)
    except RunError as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    from jobs.io_errors import io_error_line
    from jobs.output_lock import OutputLocked, output_lock, run_lock_path

    try:
        with output_lock(run_lock_path(out), out):  # one writer per output: a second run stops here
            return _run_stages(args, config, run, stages, until, out)
    except OutputLocked as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    except BaseException as e:
        line = io_error_line(e, f"sluice run ({run.current or 'starting'})", out)  # disk full, read-only, ...
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2


def _run_stages(args, config, run: RunContext, stages, until: str, out: str) -> int:
    spark = spark_session("sluice-run", args.master)
    ship_packages(spark)
    common = ["--config", args.config] if args.config else []
    upstream = previous = ""
    for stage in stages:
        if not stage.enabled(config):
            continue
        output = f"{out}/{stage.directory}"
        run.current = stage.name
        try:
            argv_stage, extra = stage.prepare(run, previous)
        except RunError as e:
            print(f"sluice run: {e}", file=sys.stderr)
            return 2
        sections = {name: getattr(config, name) for name in stage.sections}
        stage_hash = config_hash({"stage": stage.name, "upstream": upstream, "config": sections, "extra": extra})
        if not args.force and output_is_complete(output) and recorded_hash(output) == stage_hash:
            print(f"{stage.name}: {output} is complete and its config is unchanged; skipped")
        else:
            rc = _job(stage).main(
                ["--input", *stage.inputs(run, previous), *argv_stage, "--output", output, *common, "--force"],
                stage_record={"stage": stage.name, "config_hash": stage_hash},
            )
            if rc:
                return rc
            run.ran_upstream = True
        upstream, previous = stage_hash, output
        if stage.name == until:
            break
    if until == "tokenize":
        try:
            _write_report(out)
        except (ShardError, OSError) as e:
            print(f"sluice run: shards written, but not the report: {e}", file=sys.stderr)
            return 1
        print(f"sluice run: done; shards in {out}/shards (sluice inspect {out}/shards); report {out}/report.html")
    else:
        last = next(s for s in stages if s.name == until)
        print(f"sluice run: done through {until}; its output is {out}/{last.directory}")
    return 0


def _write_report(out: str) -> None:
    """OUTPUT/report.html (pipeline/inspect/html.py) and the dataset card OUTPUT/README.md (inspect/card.py)."""
    import fsspec

    from pipeline.inspect.card import dataset_card
    from pipeline.inspect.html import write_html
    from pipeline.inspect.report import inspect_shards

    report = inspect_shards(f"{out}/shards")
    write_html(report, f"{out}/report.html")
    with fsspec.open(f"{out}/README.md", "w", encoding="utf-8") as f:
        f.write(dataset_card(report))


def config_main(argv: list[str] | None = None) -> int:
    """`sluice config --defaults`: the full default run.toml, with comments; `--check FILE` validates one."""
    p = argparse.ArgumentParser(prog="sluice config", description=config_main.__doc__)
    p.add_argument("--defaults", action="store_true", help="print the default run.toml")
    p.add_argument("--check", metavar="FILE", help="validate FILE and print it with defaults filled in")
    args = p.parse_args(argv)
    if args.check:
        try:
            config = RunConfig.load(args.check)
        except ConfigError as e:
            print(f"sluice config: {e}", file=sys.stderr)
            return 2
    elif args.defaults:
        config = RunConfig()
    else:
        p.print_help()
        return 0
    print("# Sluice run configuration: one table per stage. Unknown keys and bad values are errors.\n")
    print(defaults_toml(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
