"""`sluice run` (or `spark-submit jobs/pipeline.py`): extract → dedup → classify → tokenize, one Spark session.

Each stage writes OUTPUT/<dir>/ and records the hash of everything that decided its output (its config
tables, the hash of the stage before it, its inputs, models or tokenizer) in `_stage.json`. A rerun skips a
stage whose output is complete with the same hash and redoes a stage whose hash changed — and so every stage
after it, since their hashes chain. A run killed mid-stage left only a `.tmp-*` directory, so that stage is
simply done again.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script (`spark-submit jobs/pipeline.py`): put the repo root where jobs/ was,
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # jobs/tokenize.py shadows the stdlib's

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from jobs.base import (  # noqa: E402
    STAGE_FILE,
    content_digest,
    filesystem,
    output_is_complete,
    remove_stale_temp_outputs,
    ship_packages,
    spark_session,
)
from pipeline.config import ConfigError, config_hash, defaults_toml  # noqa: E402

log = logging.getLogger("sluice.pipeline")


@dataclass(frozen=True)
class Stage:
    name: str
    directory: str
    job: str  # module:class
    sections: tuple[str, ...]  # the RunConfig tables this stage reads


STAGES = (
    Stage("extract", "documents", "jobs.extract:ExtractJob", ("extract", "filters")),
    Stage("dedup", "deduped", "jobs.dedup:DedupJob", ("dedup",)),
    Stage("classify", "classified", "jobs.classify:ClassifyJob", ("classify",)),
    Stage("tokenize", "shards", "jobs.tokenize:TokenizeJob", ("tokenize",)),
)


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
    p = argparse.ArgumentParser(prog="sluice run", description="WARC files → tokenized shards, every stage")
    p.add_argument("--input", required=True, nargs="+", help="WARC/ARC files, globs or URLs")
    p.add_argument("--output", required=True, help="run directory: documents/ deduped/ classified/ shards/ go here")
    p.add_argument("--config", default=None, help="run.toml (see `sluice config --defaults`)")
    p.add_argument("--models", default=None, help="classifier models directory (default: OUTPUT/models)")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: trained on the corpus into OUTPUT)")
    p.add_argument("--master", default=None, help="Spark master, e.g. spark://host:7077 (default local[*])")
    p.add_argument("--force", action="store_true", help="redo every stage")
    p.add_argument("--until", choices=[s.name for s in STAGES], default="tokenize", help="last stage to run")
    return p


def main(argv: list[str] | None = None) -> int:
    from pipeline.run_config import RunConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        config = RunConfig.load(args.config)  # every table checked before any Spark work starts
    except ConfigError as e:
        print(f"sluice run: {e}", file=sys.stderr)
        return 2
    out = args.output.rstrip("/")
    models = args.models or f"{out}/models"
    tokenizer = args.tokenizer or config.tokenize.tokenizer or f"{out}/tokenizer.json"
    spark = spark_session("sluice-run", args.master)
    ship_packages(spark)
    common = ["--config", args.config] if args.config else []
    upstream = previous = ""
    auto_tokenizer = not args.tokenizer and not config.tokenize.tokenizer
    ran_upstream = False  # a stage before tokenize ran in this invocation: an auto-trained tokenizer is stale
    for stage in STAGES:
        output = f"{out}/{stage.directory}"
        if stage.name == "extract":
            from pipeline.warc import expand_inputs

            # The hash records the files the patterns match now; the job gets the patterns themselves, so a file
            # that vanishes after this listing is counted as missing_input there instead of failing the run
            inputs = expand_inputs(args.input)
            argv_stage, extra = ["--input", *args.input], json.dumps(inputs)
        else:
            argv_stage, extra = ["--input", previous], ""
        if stage.name == "classify":
            models_fs, models_path = filesystem(models)
            if not models_fs.isdir(models_path):
                print(f"sluice run: no classifier models at {models}: pass --models DIR (train them with "
                      "`sluice classifiers train ...`, see README)", file=sys.stderr)
                return 2
            argv_stage += ["--models", models]
            extra = content_digest(models)
        if stage.name == "tokenize":
            tokenizer_fs, tokenizer_path = filesystem(tokenizer)
            if auto_tokenizer and (ran_upstream or not tokenizer_fs.exists(tokenizer_path)):
                _train_tokenizer(previous, tokenizer, config.tokenize)
            argv_stage += ["--tokenizer", tokenizer]
            extra = content_digest(tokenizer)
        sections = {name: getattr(config, name) for name in stage.sections}
        stage_hash = config_hash({"stage": stage.name, "upstream": upstream, "config": sections, "extra": extra})
        if not args.force and output_is_complete(output) and recorded_hash(output) == stage_hash:
            print(f"{stage.name}: {output} is complete and its config is unchanged; skipped")
        else:
            rc = _job(stage).main(
                [*argv_stage, "--output", output, *common, "--force"],
                stage_record={"stage": stage.name, "config_hash": stage_hash},
            )
            if rc:
                return rc
            ran_upstream = True
        upstream, previous = stage_hash, output
        if stage.name == args.until:
            break
    print(f"sluice run: done; shards in {out}/shards (sluice inspect {out}/shards)")
    return 0


def _train_tokenizer(corpus: str, output: str, config) -> None:
    from pipeline.tokenize import sample_texts, train_tokenizer

    texts = sample_texts(corpus, config.train_sample_mb << 20)
    tokenizer = train_tokenizer(texts, config.vocab_size, config.eos_token, config.min_frequency)
    remove_stale_temp_outputs(output)
    fs, path = filesystem(output)
    partial = f"{path}.tmp-{uuid.uuid4().hex[:8]}"  # renamed into place: a killed run never leaves half a file
    with fs.open(partial, "w", encoding="utf-8") as f:  # that the rerun would take for a trained tokenizer
        f.write(tokenizer.to_str(pretty=True))
    fs.mv(partial, path)
    print(f"tokenizer: trained a {tokenizer.get_vocab_size()}-token byte-level BPE on {corpus} → {output}")


def config_main(argv: list[str] | None = None) -> int:
    """`sluice config --defaults`: the full default run.toml, with comments; `--check FILE` validates one."""
    from pipeline.run_config import RunConfig

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
