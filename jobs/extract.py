"""spark-submit jobs/extract.py --input GLOB_OR_URLS --output DIR [--config run.toml]

WARC files are distributed over tasks by path (one task per file). Each task streams its file through
`pipeline.extract.stage.extract_documents`, writes `part-NNNNN.parquet` itself (NNNNN = the file's index in the
sorted input list) and returns only its stats; documents never pass through the driver or the JVM. A retried
task rewrites the same file, and only successful attempts' stats reach the driver, so nothing counts twice.
"""

from __future__ import annotations

import sys

from jobs.base import SparkJob, UserError, filesystem
from pipeline.stats import Stats


class ExtractJob(SparkJob):
    name = "extract"
    description = "WARC/ARC files → clean Document Parquet (extraction, language id, rule-based filters)"

    def check_inputs(self, args) -> None:
        from pipeline.warc.reader import expand_inputs

        try:
            expand_inputs(args.input)
        except FileNotFoundError as e:
            raise UserError(f"--input: {e}") from None

    def run(self, spark, args, tmp_output: str) -> Stats:
        from jobs.run_config import RunConfig
        from pipeline.audit import DroppedSample, merge_dropped
        from pipeline.document import write_documents
        from pipeline.extract.page_features import page_columns
        from pipeline.extract.stage import extract_documents
        from pipeline.filters import RuleShareError, build_chain, check_rule_shares
        from pipeline.warc.reader import expand_inputs

        config = RunConfig.load(args.config)
        build_chain(config.filters).prepare()  # a bad block-list or model path fails here, not in every task
        try:
            paths = expand_inputs(args.input)
        except FileNotFoundError as e:
            raise SystemExit(f"extract: {e}") from None
        fs, tmp = filesystem(tmp_output)
        fs.makedirs(tmp, exist_ok=True)
        target = tmp_output.rstrip("/")

        def process(items):
            for index, path in items:
                stats, dropped = Stats(stage="extract"), DroppedSample(config.audit)
                docs = extract_documents(path, config.extract, config.filters, stats, config.pii, dropped)
                write_documents(docs, f"{target}/part-{index:05d}.parquet", page_columns=page_columns(config.extract))
                dropped.write(target, index)
                yield stats.to_dict()

        tasks = spark.sparkContext.parallelize(list(enumerate(paths)), numSlices=len(paths))
        results = tasks.mapPartitions(process).collect()
        stats = Stats.merge([Stats.from_dict(r) for r in results], stage=self.name)
        if stats.failed_inputs and config.extract.fail_on_missing_input:
            raise SystemExit(f"extract: unreadable input(s): {', '.join(stats.failed_inputs)} "
                             "(set extract.fail_on_missing_input = false to count and go on)")
        try:  # before anything is committed: a rule that drops nearly every page stops the run here
            check_rule_shares(stats, config.filters, self.name)
        except RuleShareError as e:
            raise UserError(str(e)) from None
        merge_dropped(tmp_output, config.audit)
        return stats


if __name__ == "__main__":
    sys.exit(ExtractJob().main())
