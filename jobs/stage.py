"""A stage of the pipeline as one object: the config tables it reads, its output folder, the hash of exactly that
config, its checks and `run`. `sluice run` (jobs/run.py) calls the objects of jobs/registry.py in order;
`spark-submit jobs/<stage>.py` is the same object behind a command line (`Stage.main`).

A stage's `run` is given a `Settings` holding only the tables the stage names in `tables` (and `integrity`, which
every stage's loss guard reads). Reading any other table is an AttributeError, so the hash taken over the same
`Settings` (`Stage.config_hash`) covers everything the stage can read: no hand-kept list can fall behind the code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from jobs.base import (
    UserError,
    check_output,
    commit_output,
    filesystem,
    output_is_complete,
    remove_stale_temp_outputs,
    spark_session,
    temp_output,
)
from jobs.io_errors import io_error_line
from pipeline.config import ConfigError, config_hash
from pipeline.stats import STAGE_FILE, Stats, loss_guard

log = logging.getLogger("sluice.jobs")

ALWAYS_READ = ("integrity",)  # Stage.execute's loss guard reads [integrity] for every stage
WHOLE_CONFIG = ("*",)  # `tables` of a stage that reads every table (tokenize: its manifest records them all)


class Settings:
    """The config tables one stage reads, and nothing else (see the module docstring)."""

    __slots__ = ("_stage", "_tables")

    def __init__(self, stage: str, tables: dict[str, Any]):
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_tables", dict(tables))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._tables[name]
        except KeyError:
            raise AttributeError(f"stage {self._stage!r} reads no [{name}] table: add {name!r} to its `tables` "
                                 f"(it reads {', '.join(self._tables)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a stage's settings are read-only")

    def __reduce__(self):  # pickled whole into a Spark task; __setattr__ above refuses slot-by-slot restoring
        return Settings, (self._stage, self._tables)

    def tables(self) -> dict[str, Any]:
        return dict(self._tables)


@dataclass
class StageArgs:
    """What a stage runs on besides its settings: input paths, the output folder and the files that are not config
    (models, a tokenizer). From `sluice run` or from the stage's own command line."""

    input: list[str]
    output: str
    models: str | None = None
    tokenizer: str | None = None
    without_models: bool = False  # classify with every model off (sluice run given no models)
    master: str | None = None
    force: bool = False


@dataclass
class RunContext:
    """What the stages of one `sluice run` share: its arguments, config and what earlier stages did."""

    args: argparse.Namespace
    config: Any  # RunConfig
    out: str
    models: str
    tokenizer: str
    auto_tokenizer: bool  # trained by the run into OUTPUT/tokenizer.json, not given by the user
    ran_upstream: bool = False  # a stage before this one ran in this invocation: an auto-trained tokenizer is stale
    current: str = ""  # the stage being prepared or run, for an error's one line


class RunError(Exception):
    """A user error found while preparing a stage (a missing model directory, ...): one line, exit code 2."""


class Stage:
    """One stage. Subclasses set the class attributes and `run`; the other hooks have defaults."""

    name: ClassVar[str] = "stage"
    directory: ClassVar[str] = ""  # its output folder under a `sluice run` output
    description: ClassVar[str] = ""
    tables: ClassVar[tuple[str, ...]] = ()  # the RunConfig tables `run` reads (besides ALWAYS_READ)
    switch: ClassVar[str] = ""  # an optional stage: the table whose `enabled` key turns it on

    # --- what a stage does -------------------------------------------------------------------------------------
    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        """Read args.input, write tmp_output, return the stats (they must add up: every drop has a reason)."""
        raise NotImplementedError

    # --- hooks with defaults -----------------------------------------------------------------------------------
    def enabled(self, config) -> bool:
        """Whether `sluice run` runs this stage under `config`."""
        return not self.switch or getattr(config, self.switch).enabled

    def inputs(self, run: RunContext, previous: str) -> list[str]:
        """Its input under `sluice run`: the output of the stage before it."""
        return [previous]

    def check(self, run: RunContext) -> None:
        """RunError for a user error this stage can name before Spark starts (a missing models directory, ...)."""

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        """StageArgs fields beyond input/output for `sluice run`, and what besides config and upstream decides its
        output (hashed: the digest of its models, its tokenizer, the input file list)."""
        return {}, ""

    def check_inputs(self, settings: Settings, args: StageArgs) -> None:
        """UserError naming the input when --input matches nothing; the default is for stages reading Parquet."""
        from pipeline.integrity import parquet_files

        try:
            parquet_files(args.input)
        except ConfigError as e:
            raise UserError(f"--input {e}") from None

    def read_input(self, spark, settings: Settings, args: StageArgs, columns: tuple[str, ...] = ("id", "text")):
        """(DataFrame, Stats of the files left out): the input Parquet once every page of it is checked
        (jobs.base.read_verified_parquet), holding the columns this stage needs, else one line naming what lacks."""
        from pyspark.errors import AnalysisException

        from jobs.base import read_verified_parquet

        try:
            frame, skipped = read_verified_parquet(spark, args.input, settings.integrity, self.name)
        except AnalysisException as e:
            raise SystemExit(f"{self.name}: cannot read Parquet input {' '.join(args.input)}: {e}") from None
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SystemExit(f"{self.name}: input {' '.join(args.input)} lacks column(s) {', '.join(missing)}")
        return frame, skipped

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Its own command-line flags; --input, --output, --config, --master and --force are common."""

    def configure(self, config, options: argparse.Namespace):
        """The run config with this stage's command-line flags applied (tokenize's --seed, ...)."""
        return config

    # --- shared machinery --------------------------------------------------------------------------------------
    def settings(self, config) -> Settings:
        names = [f.name for f in fields(config)] if self.tables == WHOLE_CONFIG else (*self.tables, *ALWAYS_READ)
        names = dict.fromkeys(names)
        return Settings(self.name, {name: getattr(config, name) for name in names})

    def config_hash(self, settings: Settings, upstream: str = "", extra: str = "") -> str:
        """The hash recorded in _stage.json: a rerun skips the stage while it is unchanged."""
        return config_hash({"stage": self.name, "upstream": upstream, "config": settings.tables(), "extra": extra})

    def execute(self, spark, settings: Settings, args: StageArgs, record: dict | None = None) -> int:
        """Run into a temporary folder, check the stats, commit atomically; `record` goes into _stage.json.
        Returns the exit code: 0, or 2 with one line for a user or I/O error."""
        try:
            check_output(args.output)
            self.check_inputs(settings, args)
        except (ConfigError, UserError) as e:
            return self._user_error(e)
        if output_is_complete(args.output) and not args.force:
            print(f"{self.name}: {args.output} is complete; nothing to do (use --force to redo)")
            return 0
        started = time.monotonic()
        print(f"{self.name}: started: {' '.join(args.input)} → {args.output}", flush=True)
        spark = spark or spark_session(f"sluice-{self.name}", args.master)
        remove_stale_temp_outputs(args.output)
        tmp_output = temp_output(args.output)
        try:
            stats = self.run(spark, settings, args, tmp_output)
            stats.stage = self.name
            if not stats.balanced():
                raise RuntimeError(f"{self.name}: stats do not add up: {stats.to_dict()}")
            lost = loss_guard(stats, settings.integrity.max_operational_drop_share)
            if lost:  # the work did not happen: fail rather than commit a thin output with rc 0
                raise UserError(lost)
            extra = {STAGE_FILE: json.dumps(record, indent=2, sort_keys=True) + "\n"} if record else None
            commit_output(tmp_output, args.output, stats, extra)
        except BaseException as e:
            _remove(tmp_output, self.name)
            return self._exit_code(e, args.output)
        print(f"{self.name}: {stats.records_in} in, {stats.records_out} out, dropped {dict(stats.dropped)} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        return 0

    def parser(self) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=f"spark-submit jobs/{self.name}.py", description=self.description)
        p.add_argument("--input", required=True, nargs="+", help="input path(s), glob(s) or URL(s)")
        p.add_argument("--output", required=True, help="output directory (local path or fsspec URL)")
        p.add_argument("--config", default=None, help="run.toml with this stage's settings")
        p.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
        p.add_argument("--force", action="store_true", help="redo the stage even if its output is complete")
        self.add_arguments(p)
        return p

    def main(self, argv: list[str] | None = None) -> int:
        """The stage on its own, as `spark-submit jobs/<stage>.py` runs it: one writer per output (a lock)."""
        from jobs.output_lock import OutputLocked, output_lock, stage_lock_path
        from jobs.run_config import RunConfig

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        options = self.parser().parse_args(argv)
        given = {f.name for f in fields(StageArgs)}
        args = StageArgs(**{k: v for k, v in vars(options).items() if k in given})
        try:  # every table checked before Spark starts (execute checks --output and --input)
            settings = self.settings(self.configure(RunConfig.load(options.config), options))
        except ConfigError as e:
            return self._user_error(e)
        try:
            with output_lock(stage_lock_path(args.output), args.output):
                return self.execute(None, settings, args)
        except OutputLocked as e:
            return self._user_error(e)
        except OSError as e:  # the lock file itself: a read-only or full output location
            return self._exit_code(e, args.output)

    def _exit_code(self, e: BaseException, output: str) -> int:
        """2 with one line for a user error, or for an I/O error (disk full, read-only, permission) naming the
        output; anything else is raised on."""
        if isinstance(e, (ConfigError, UserError)) or (isinstance(e, SystemExit) and isinstance(e.code, str)):
            return self._user_error(e)
        line = io_error_line(e, self.name, output)
        if line is None:
            raise e
        print(line, file=sys.stderr)
        return 2

    def _user_error(self, e: BaseException) -> int:
        message = str(e.code if isinstance(e, SystemExit) else e)
        prefix = "" if message.startswith(f"{self.name}: ") else f"{self.name}: "
        print(f"{prefix}{message}", file=sys.stderr)
        return 2


class FileInputStage(Stage):
    """A first stage: its input is the files `sluice run --input` names (WARC files or a document corpus), one task
    per file. Each task writes `part-NNNNN.parquet` itself (NNNNN = the file's index in the sorted input list) and
    returns only its stats, so documents never pass through the driver or the JVM; a retried task rewrites the same
    file, and only successful attempts' stats reach the driver, so nothing counts twice. Its hash records the files
    the patterns match now; the stage itself gets the patterns, so a file that vanishes after this listing is
    counted as missing_input there instead of failing the run."""

    def files(self, settings: Settings, args: StageArgs) -> list[str]:
        """The input files the patterns match, sorted: their order names the output files."""
        raise NotImplementedError

    def file_writer(self, settings: Settings):
        """A function (path, output_file, stats, dropped) run in the task of each input file: it writes the file's
        documents to output_file, counting and sampling its drops; it returns an error line for the driver to stop
        the stage with (a column map that does not fit the file), else None."""
        raise NotImplementedError

    def finish(self, stats: Stats, settings: Settings) -> None:
        """A check of the merged stats before the rule shares are checked (extract: unreadable inputs)."""

    def inputs(self, run: RunContext, previous: str) -> list[str]:
        return list(run.args.input)

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pipeline.audit import DroppedSample, merge_dropped
        from pipeline.filters import RuleShareError, build_chain, check_rule_shares

        build_chain(settings.filters).prepare()  # a bad block-list or model path fails here, not in every task
        paths = self.files(settings, args)
        fs, tmp = filesystem(tmp_output)
        fs.makedirs(tmp, exist_ok=True)
        target, name, audit, write_file = tmp_output.rstrip("/"), self.name, settings.audit, self.file_writer(settings)

        def process(items):
            for index, path in items:
                stats, dropped = Stats(stage=name), DroppedSample(audit)
                error = write_file(path, f"{target}/part-{index:05d}.parquet", stats, dropped)
                if error:
                    yield {"error": error}
                    continue
                dropped.write(target, index)
                yield stats.to_dict()

        results = spark.sparkContext.parallelize(list(enumerate(paths)), numSlices=len(paths)).mapPartitions(
            process).collect()
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise UserError(f"{self.name}: {errors[0]}")
        stats = Stats.merge([Stats.from_dict(r) for r in results], stage=self.name)
        self.finish(stats, settings)
        try:  # before anything is committed: a rule that drops nearly every document stops the stage here
            check_rule_shares(stats, settings.filters, self.name)
        except RuleShareError as e:
            raise UserError(str(e)) from None
        merge_dropped(tmp_output, settings.audit)
        return stats


def _remove(tmp_output: str, stage: str) -> None:
    try:
        fs, tmp = filesystem(tmp_output)
        if fs.exists(tmp):
            fs.rm(tmp, recursive=True)
    except OSError as cleanup:  # a read-only file system: the next run removes it (remove_stale_temp_outputs)
        log.warning("%s: could not remove %s: %s", stage, tmp_output, cleanup)
