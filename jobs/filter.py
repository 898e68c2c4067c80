"""spark-submit jobs/filter.py --input FILES_DIRS_OR_URLS --output DIR [--config run.toml]

The rule filters over an existing document corpus (Parquet, JSON lines plain/.gz/.zst, Arrow, Hugging Face dataset
folders): what extract does to WARC pages after extraction, on documents that already have their text. Files are
distributed over tasks by path, one task per file (jobs.stage.FileInputStage); each task streams its file through
`pipeline.corpus.filter_stage.filter_corpus` into its own part file.
"""

from __future__ import annotations

import json
import sys

from jobs.base import UserError
from jobs.stage import FileInputStage, RunContext, Settings, StageArgs
from pipeline.stats import Stats


class FilterStage(FileInputStage):
    name = "filter"
    directory = "documents"  # in extract's place: both write documents
    description = "document corpus → Document Parquet (language id where unlabelled, URL, Gopher, C4, FineWeb rules)"
    tables = ("input", "filters", "pii", "audit")

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        from pipeline.corpus.detect import expand_corpus

        return {}, json.dumps(expand_corpus(run.args.input))  # the files the patterns match now

    def check_inputs(self, settings: Settings, args: StageArgs) -> None:
        from pipeline.corpus.detect import InputFormatError, expand_corpus, input_kind

        try:
            files = expand_corpus(args.input)
            if input_kind(files, settings.input.format) != "documents":
                raise UserError(f"--input {files[0]}: WARC files go through extract (jobs/extract.py), not filter")
        except (FileNotFoundError, InputFormatError) as e:
            raise UserError(f"--input: {e}") from None

    def files(self, settings: Settings, args: StageArgs) -> list[str]:
        from pipeline.corpus.detect import expand_corpus

        return expand_corpus(args.input)

    def file_writer(self, settings: Settings):
        source, filters, pii = settings.input, settings.filters, settings.pii

        def write(path: str, output_file: str, stats: Stats, dropped) -> str | None:
            from pipeline.corpus.detect import InputFormatError
            from pipeline.corpus.filter_stage import filter_corpus, write_corpus_documents

            try:
                write_corpus_documents(filter_corpus(path, source, filters, stats, pii, dropped), output_file)
            except InputFormatError as e:  # a column map that does not fit: the driver names it
                return str(e)
            return None

        return write


if __name__ == "__main__":
    sys.exit(FilterStage().main())
