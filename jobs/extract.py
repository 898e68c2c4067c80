"""spark-submit jobs/extract.py --input GLOB_OR_URLS --output DIR [--config run.toml]

WARC files are distributed over tasks by path (one task per file). Each task streams its file through
`pipeline.extract.stage.extract_documents`, writes `part-NNNNN.parquet` itself (NNNNN = the file's index in the
sorted input list) and returns only its stats; documents never pass through the driver or the JVM. A retried
task rewrites the same file, and only successful attempts' stats reach the driver, so nothing counts twice.
"""

from __future__ import annotations

import json
import sys

from jobs.base import UserError, content_digest, filesystem
from jobs.stage import FileInputStage, RunContext, Settings, StageArgs
from pipeline.stats import Stats


class ExtractStage(FileInputStage):
    name = "extract"
    directory = "documents"
    description = "WARC/ARC files → clean Document Parquet (extraction, language id, rule-based filters)"
    tables = ("extract", "filters", "pii", "audit")

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        from pipeline.warc.reader import expand_inputs

        extra = json.dumps(expand_inputs(run.args.input))  # the files the patterns match now
        if run.config.extract.extractor == "fast":  # the model decides what is content: retraining redoes the stage
            from pipeline.extract.fast import DEFAULT_MODEL

            extra += content_digest(run.config.extract.fast_model or str(DEFAULT_MODEL))
        return {}, extra

    def check_inputs(self, settings: Settings, args: StageArgs) -> None:
        from pipeline.warc.reader import expand_inputs

        try:
            expand_inputs(args.input)
        except FileNotFoundError as e:
            raise UserError(f"--input: {e}") from None

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pipeline.audit import DroppedSample
        from pipeline.document import write_documents
        from pipeline.extract.page_features import page_columns
        from pipeline.extract.stage import extract_documents
        from pipeline.filters import build_chain
        from pipeline.warc.reader import expand_inputs

        build_chain(settings.filters).prepare()  # a bad block-list or model path fails here, not in every task
        try:
            paths = expand_inputs(args.input)
        except FileNotFoundError as e:
            raise SystemExit(f"extract: {e}") from None
        fs, tmp = filesystem(tmp_output)
        fs.makedirs(tmp, exist_ok=True)
        target = tmp_output.rstrip("/")
        extract, filters, pii, audit = settings.extract, settings.filters, settings.pii, settings.audit

        def process(items):
            for index, path in items:
                stats, dropped = Stats(stage="extract"), DroppedSample(audit)
                docs = extract_documents(path, extract, filters, stats, pii, dropped)
                write_documents(docs, f"{target}/part-{index:05d}.parquet", page_columns=page_columns(extract))
                dropped.write(target, index)
                yield stats.to_dict()

        tasks = spark.sparkContext.parallelize(list(enumerate(paths)), numSlices=len(paths))
        results = tasks.mapPartitions(process).collect()
        stats = Stats.merge([Stats.from_dict(r) for r in results], stage=self.name)
        if stats.failed_inputs and extract.fail_on_missing_input:
            raise SystemExit(f"extract: unreadable input(s): {', '.join(stats.failed_inputs)} "
                             "(set extract.fail_on_missing_input = false to count and go on)")
        self.check_rule_shares(stats, settings, tmp_output)
        return stats


if __name__ == "__main__":
    sys.exit(ExtractStage().main())
