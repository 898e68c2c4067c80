"""spark-submit jobs/extract.py --input GLOB_OR_URLS --output DIR [--config run.toml]

WARC files are distributed over tasks by path, one task per file (jobs.stage.FileInputStage); each task streams its
file through `pipeline.extract.stage.extract_documents` into its own part file.
"""

from __future__ import annotations

import json
import sys

from jobs.base import UserError, content_digest
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

    def files(self, settings: Settings, args: StageArgs) -> list[str]:
        from pipeline.warc.reader import expand_inputs

        try:
            return expand_inputs(args.input)
        except FileNotFoundError as e:
            raise SystemExit(f"extract: {e}") from None

    def file_writer(self, settings: Settings):
        extract, filters, pii = settings.extract, settings.filters, settings.pii

        def write(path: str, output_file: str, stats: Stats, dropped) -> None:
            from pipeline.document import write_documents
            from pipeline.extract.page_features import page_columns
            from pipeline.extract.stage import extract_documents

            docs = extract_documents(path, extract, filters, stats, pii, dropped)
            write_documents(docs, output_file, page_columns=page_columns(extract))

        return write

    def finish(self, stats: Stats, settings: Settings) -> None:
        if stats.failed_inputs and settings.extract.fail_on_missing_input:
            raise SystemExit(f"extract: unreadable input(s): {', '.join(stats.failed_inputs)} "
                             "(set extract.fail_on_missing_input = false to count and go on)")


if __name__ == "__main__":
    sys.exit(ExtractStage().main())
