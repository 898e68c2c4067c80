"""spark-submit jobs/filter.py --input FILES_DIRS_OR_URLS --output DIR [--config run.toml]

The rule filters over an existing document corpus (Parquet, JSON lines plain/.gz/.zst, Arrow, Hugging Face dataset
folders): what extract does to WARC pages after extraction, on documents that already have their text. Files are
distributed over tasks by path (one task per file); each task streams its file through
`pipeline.corpus.filter_stage.filter_corpus`, writes `part-NNNNN.parquet` itself (NNNNN = the file's index in the
sorted input list) and returns only its stats, so documents never pass through the driver or the JVM.
"""

from __future__ import annotations

import json
import sys

from jobs.base import UserError, filesystem
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

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pipeline.audit import DroppedSample
        from pipeline.corpus.detect import InputFormatError, expand_corpus
        from pipeline.corpus.filter_stage import filter_corpus, write_corpus_documents
        from pipeline.filters import build_chain

        build_chain(settings.filters).prepare()  # a bad block-list or model path fails here, not in every task
        paths = expand_corpus(args.input)
        fs, tmp = filesystem(tmp_output)
        fs.makedirs(tmp, exist_ok=True)
        target = tmp_output.rstrip("/")
        source, filters, pii, audit = settings.input, settings.filters, settings.pii, settings.audit

        def process(items):
            for index, path in items:
                stats, dropped = Stats(stage="filter"), DroppedSample(audit)
                try:
                    batches = filter_corpus(path, source, filters, stats, pii, dropped)
                    write_corpus_documents(batches, f"{target}/part-{index:05d}.parquet")
                except InputFormatError as e:  # a column map that does not fit: the driver names it
                    yield {"error": str(e)}
                    continue
                dropped.write(target, index)
                yield stats.to_dict()

        results = spark.sparkContext.parallelize(list(enumerate(paths)), numSlices=len(paths)).mapPartitions(
            process).collect()
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise UserError(f"filter: {errors[0]}")
        stats = Stats.merge([Stats.from_dict(r) for r in results], stage=self.name)
        self.check_rule_shares(stats, settings, tmp_output)
        return stats


if __name__ == "__main__":
    sys.exit(FilterStage().main())
