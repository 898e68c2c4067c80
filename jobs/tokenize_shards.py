"""spark-submit jobs/tokenize_shards.py --input DIR --output DIR --tokenizer tokenizer.json [--target-shard-mb 256]

Classified documents → shard-NNNNN.parquet + tokenizer.json + manifest.json, byte-identical on every run.
Token ids never enter the JVM (Spark would convert every id, several times); text is shuffled instead:
1. size: tokens per byte from a fixed sample of the input, times the bytes of every planned copy
   (`pipeline.tokenize.tokenizer.plan_copies` on ids, weights and text lengths), gives the shard count n;
2. plan: every task expands weights into copies with a seeded shuffle key; a row's shard is the range its key
   falls in (key div ceil(2^63 / n)), so shards are uniform random mixtures of about equal size, and the
   assignment depends on the data alone, not on Spark's partitioning;
3. write: rows are hash-partitioned by shard and sorted by (shard, key, id); each task tokenizes its rows
   (`encode_rows`) and writes its shards whole with pyarrow (`pipeline.shards.writer.write_shards`), so names, row
   groups and bytes are exact.
The driver then writes tokenizer.json and, last, manifest.json.
"""

from __future__ import annotations

import json
import math
import os
import sys

from jobs.base import (
    content_digest,
    filesystem,
    merge_task_stats,
    with_skipped,
    write_task_stats,
)
from jobs.stage import WHOLE_CONFIG, RunContext, RunError, Settings, Stage, StageArgs
from pipeline.stats import Stats

INPUT_COLUMNS = ("id", "text", "category", "quality", "weight", "lang", "domain", "web_type")
SAMPLE_BYTES = 1 << 20  # of text, read and tokenized on the driver to measure tokens per byte


class TokenizeStage(Stage):
    name = "tokenize"
    directory = "shards"
    description = "classified documents → tokenized Parquet shards with a manifest"
    tables = WHOLE_CONFIG  # the manifest records the run's whole config, so every key decides its bytes

    def check(self, run: RunContext) -> None:
        tokenizer_fs, tokenizer_path = filesystem(run.tokenizer)
        if not run.auto_tokenizer and not tokenizer_fs.isfile(tokenizer_path):
            raise RunError(f"tokenizer file not found: {run.tokenizer}")

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        if run.auto_tokenizer:  # trained again unless trained from this very input and [tokenize] keys
            from jobs.run_tokenizer import ensure_trained

            ensure_trained(previous, run.tokenizer, run.config.tokenize, run.ran_upstream)
        return {"tokenizer": run.tokenizer}, content_digest(run.tokenizer)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tokenizer", default=None, help="tokenizer.json (tokenize.tokenizer)")
        parser.add_argument("--target-shard-mb", type=int, default=None, help="tokenize.target_shard_mb")
        parser.add_argument("--seed", type=int, default=None, help="shuffle and weight seed (tokenize.seed)")

    def configure(self, config, options):
        from dataclasses import replace

        overrides = {"target_shard_mb": options.target_shard_mb, "seed": options.seed}
        return replace(config, tokenize=replace(config.tokenize, **{k: v for k, v in overrides.items()
                                                                   if v is not None}))

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from dataclasses import replace

        import pyspark.sql.functions as F

        from jobs.run_config import RunConfig
        from pipeline.config import ConfigError, config_hash, to_dict
        from pipeline.shards.format import MANIFEST, TOKENIZER_FILE, build_manifest, manifest_json, row_bytes
        from pipeline.tokenize.tokenizer import PLANNED_DDL, load_tokenizer, sample_texts, tokens_per_byte

        config = RunConfig(**settings.tables())
        if args.tokenizer:
            config = replace(config, tokenize=replace(config.tokenize, tokenizer=args.tokenizer))
        cfg = config.tokenize
        try:
            tokenizer_json, tokenizer_info = _tokenizer(cfg)
        except ConfigError as e:
            raise SystemExit(f"tokenize: {e}") from None

        frame, skipped = self.read_input(spark, settings, args)
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2048")
        frame = frame.select([c for c in INPUT_COLUMNS if c in frame.columns])
        frame = frame.withColumn("text_bytes", F.octet_length("text"))

        inputs = sorted(frame.inputFiles())  # the verified files only
        ratio = tokens_per_byte(load_tokenizer(tokenizer_json), sample_texts(inputs, SAMPLE_BYTES))
        sizes = frame.select([c for c in frame.columns if c != "text"])  # the sizing pass needs no text
        sizes = sizes.mapInArrow(_plan_partition(cfg, None), PLANNED_DDL)
        totals = sizes.agg(F.sum("text_bytes").alias("bytes"), F.count("*").alias("rows")).first()
        est_tokens = ratio * (totals["bytes"] or 0) + totals["rows"]  # + one EOS per row
        n_shards = math.ceil((4 * est_tokens + int(row_bytes(0)) * totals["rows"]) / (cfg.target_shard_mb << 20))
        infos = []
        if n_shards:
            step = -(-(1 << 63) // n_shards)
            rows = (frame.mapInArrow(_plan_partition(cfg, tmp_output), PLANNED_DDL)
                    .withColumn("shard", F.expr(f"shuffle_key div {step}"))
                    .repartition(n_shards, "shard")
                    .sortWithinPartitions("shard", "shuffle_key", "id")
                    .mapInArrow(_write_partition(tokenizer_json, cfg, tmp_output), "info string")
                    .collect())
            infos = _complete(tmp_output, [json.loads(r["info"]) for r in rows], n_shards)
        else:  # no copy at all: the planning pass still counts what came in and why it went (else "0 in, 0 out")
            frame.mapInArrow(_plan_partition(cfg, tmp_output), PLANNED_DDL).count()

        stats = merge_task_stats(tmp_output, self.name)
        # the manifest names the tokenizer by its copy beside the shards and its sha256, never by where it came
        # from: the same input and config give the same manifest bytes in any output folder
        recorded = replace(config, tokenize=replace(cfg, tokenizer=TOKENIZER_FILE))
        manifest = build_manifest(infos, tokenizer_info, to_dict(recorded), config_hash(recorded))
        eval_sets = _eval_sets(args.input)
        if eval_sets is not None:  # the input was decontaminated: say against which evaluation sets
            manifest["eval_sets"] = eval_sets
        if manifest["documents"] != stats.records_out + stats.counters["copies_added"]:
            raise RuntimeError(f"tokenize: shards hold {manifest['documents']} rows, planning made "
                               f"{stats.records_out + stats.counters['copies_added']}")
        stats = with_skipped(stats, skipped)
        stats.count("tokens", manifest["tokens"])
        stats.count("shards", len(infos))
        stats.count("rows_written", manifest["documents"])
        stats.count("bytes_written", manifest["bytes"])
        fs, out = filesystem(tmp_output)
        fs.makedirs(out, exist_ok=True)  # no task wrote here when there is nothing to tokenize
        with fs.open(f"{out}/{TOKENIZER_FILE}", "w", encoding="utf-8") as f:
            f.write(tokenizer_json)
        with fs.open(f"{out}/{MANIFEST}", "w", encoding="utf-8") as f:  # last: its presence means complete
            f.write(manifest_json(manifest))
        return stats


def _eval_sets(inputs: list[str]) -> list | None:
    """The decontaminate stage's list of evaluation sets (by content hash) when the input is its output."""
    from jobs.decontaminate import EVAL_SETS_FILE

    found = None
    for url in inputs:
        fs, path = filesystem(url)
        if fs.exists(f"{path.rstrip('/')}/{EVAL_SETS_FILE}"):
            with fs.open(f"{path.rstrip('/')}/{EVAL_SETS_FILE}", "r") as f:
                found = (found or []) + json.load(f)
    return found


def _tokenizer(cfg) -> tuple[str, dict]:
    from pipeline.config import ConfigError
    from pipeline.shards.format import TOKENIZER_FILE
    from pipeline.tokenize.tokenizer import eos_id, load_tokenizer, read_tokenizer_json, tokenizer_sha256

    if not cfg.tokenizer:
        raise ConfigError("tokenize.tokenizer: no tokenizer.json given (--tokenizer, or train one with "
                          "`sluice tokenizer train`)")
    text = read_tokenizer_json(cfg.tokenizer)
    tokenizer = load_tokenizer(text, cfg.tokenizer)
    info = {"file": TOKENIZER_FILE, "sha256": tokenizer_sha256(text), "eos_token": cfg.eos_token,
            "eos_id": eos_id(tokenizer, cfg.eos_token, cfg.tokenizer), "vocab_size": tokenizer.get_vocab_size()}
    return text, info


def _plan_partition(cfg, tmp_output: str | None):
    """plan_copies over a partition; with tmp_output, the task's stats are written (the sizing pass writes none)."""
    def plan(batches):
        from pyspark import TaskContext

        from pipeline.tokenize.tokenizer import plan_copies

        stats = Stats(stage="tokenize")
        for batch in batches:
            planned, _ = plan_copies(batch, cfg, stats)
            yield planned
        if tmp_output is not None:
            write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)

    return plan


def _write_partition(tokenizer_json: str, cfg, tmp_output: str):
    def write(batches):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # Spark runs one task per core already
        import pyarrow as pa

        from pipeline.shards.writer import write_shards
        from pipeline.tokenize.tokenizer import encode_rows, eos_id, load_tokenizer

        tokenizer = load_tokenizer(tokenizer_json)
        eos = eos_id(tokenizer, cfg.eos_token)
        encoded = (encode_rows(b, tokenizer, eos).append_column("shard", b.column("shard")) for b in batches)
        for info in write_shards(encoded, tmp_output, cfg.row_group_mb << 20):
            yield pa.RecordBatch.from_pydict({"info": [json.dumps(info.__dict__)]})

    return write


def _complete(tmp_output: str, infos: list[dict], n_shards: int) -> list:
    """ShardInfos for shards 0..n-1, an empty file for any index no row fell into (tiny inputs only)."""
    from pipeline.shards.format import ShardInfo, shard_name
    from pipeline.shards.writer import write_empty_shard

    by_name = {i["file"]: ShardInfo(**i) for i in infos}
    if len(by_name) != len(infos):
        raise RuntimeError("tokenize: a shard was written by two tasks")
    return [by_name.get(shard_name(i)) or write_empty_shard(tmp_output, i) for i in range(n_shards)]


if __name__ == "__main__":
    sys.exit(TokenizeStage().main())
