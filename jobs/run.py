"""`sluice run` (or `spark-submit jobs/run.py`): the stages of jobs/registry.py in order, in one Spark session:
extract (or filter) → dedup → semdedup → classify → decontaminate → tokenize (semdedup and decontaminate when enabled).

The input's kind is read from its bytes: WARC/ARC files start with extract; a document corpus (Parquet, JSON
lines, Arrow, a Hugging Face dataset folder) starts with filter, which applies extract's rule filters to it.

Each stage is an object (jobs/stage.py) given only the config tables it reads. It writes OUTPUT/<dir>/ and
records the hash of everything that decided its output (those tables, the hash of the stage before it, its inputs,
models or tokenizer) in `_stage.json`. A rerun skips a stage whose output is complete with the same hash and redoes
a stage whose hash changed — and so every stage after it, since their hashes chain. A run killed mid-stage left
only a `.tmp-*` directory, so that stage is simply done again.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from jobs import registry
from jobs.base import UserError, check_output, filesystem, output_is_complete, ship_packages, spark_session
from jobs.run_config import RunConfig
from jobs.stage import RunContext, RunError, StageArgs
from pipeline.config import ConfigError, defaults_toml
from pipeline.corpus.detect import expand_corpus, input_kind
from pipeline.shards.format import ShardError
from pipeline.stats import STAGE_FILE
from pipeline.warc.reader import expand_inputs

log = logging.getLogger("sluice.pipeline")


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
    p.add_argument("--until", choices=registry.stage_names(), default=registry.STAGES[-1].name,
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
    stages = registry.stages_for(kind, registry.STAGES)
    until = stages[0].name if args.until in ("extract", "filter") else args.until
    stages = stages[:[s.name for s in stages].index(until) + 1]  # the stages this invocation runs
    out = args.output.rstrip("/")
    run = RunContext(args=args, config=config, out=out, models=args.models or f"{out}/models",
                     tokenizer=args.tokenizer or config.tokenize.tokenizer or f"{out}/tokenizer.json",
                     auto_tokenizer=not args.tokenizer and not config.tokenize.tokenizer)
    try:  # what the stages to run need, named before Spark starts
        for stage in stages:
            if stage.enabled(config):
                stage.check(run)
    except RunError as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    from jobs.io_errors import io_error_line
    from jobs.output_lock import OutputLocked, output_lock, run_lock_path

    try:
        with output_lock(run_lock_path(out), out):  # one writer per output: a second run stops here
            return _run_stages(args, config, run, stages, out)
    except OutputLocked as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    except BaseException as e:
        line = io_error_line(e, f"sluice run ({run.current or 'starting'})", out)  # disk full, read-only, ...
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2


def _run_stages(args, config, run: RunContext, stages, out: str) -> int:
    spark = spark_session("sluice-run", args.master)
    ship_packages(spark)
    upstream = previous = ""
    for position, stage in enumerate(stages):
        if not stage.enabled(config):
            continue
        output = f"{out}/{stage.directory}"
        run.current = stage.name
        try:
            given, extra = stage.prepare(run, previous)
        except RunError as e:
            print(f"sluice run: {e}", file=sys.stderr)
            return 2
        settings = stage.settings(config)
        stage_hash = stage.config_hash(settings, upstream, extra)
        if not args.force and output_is_complete(output) and recorded_hash(output) == stage_hash:
            print(f"{stage.name}: {output} is complete and its config is unchanged; skipped")
        else:
            stage_args = StageArgs(input=stage.inputs(run, previous), output=output, force=True, **given)
            record = {"stage": stage.name, "config_hash": stage_hash, "position": position}  # inspect's funnel order
            rc = stage.execute(spark, settings, stage_args, record)
            if rc:
                return rc
            run.ran_upstream = True
        upstream, previous = stage_hash, output
    if "tokenize" in [s.name for s in stages]:
        try:
            _write_report(out)
        except (ShardError, OSError) as e:
            print(f"sluice run: shards written, but not the report: {e}", file=sys.stderr)
            return 1
        print(f"sluice run: done; shards in {out}/shards (sluice inspect {out}/shards); report {out}/report.html")
    else:
        last = [s for s in stages if s.enabled(config)][-1]
        print(f"sluice run: done through {last.name}; its output is {out}/{last.directory}")
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
