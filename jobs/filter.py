"""spark-submit jobs/filter.py --input FILES_DIRS_OR_URLS --output DIR [--config run.toml]

The rule filters over an existing document corpus (Parquet, JSON lines plain/.gz/.zst, Arrow, Hugging Face dataset
folders): what extract does to WARC pages after extraction, on documents that already have their text. Files are
distributed over tasks by path (one task per file); each task streams its file through
`pipeline.corpus.filter_stage.filter_corpus`, writes `part-NNNNN.parquet` itself (NNNNN = the file's index in the
sorted input list) and returns only its stats, so documents never pass through the driver or the JVM.
"""

from __future__ import annotations

import sys

from jobs.base import SparkJob, UserError, filesystem
from pipeline.stats import Stats


class FilterJob(SparkJob):
    name = "filter"
    description = "document corpus → Document Parquet (language id where unlabelled, URL, Gopher, C4, FineWeb rules)"

    def check_inputs(self, args) -> None:
        from jobs.run_config import RunConfig
        from pipeline.corpus.detect import InputFormatError, expand_corpus, input_kind

        try:
            files = expand_corpus(args.input)
            if input_kind(files, RunConfig.load(args.config).input.format) != "documents":
                raise UserError(f"--input {files[0]}: WARC files go through extract (jobs/extract.py), not filter")
        except (FileNotFoundError, InputFormatError) as e:
            raise UserError(f"--input: {e}") from None

    def run(self, spark, args, tmp_output: str) -> Stats:
        from jobs.run_config import RunConfig
        from pipeline.audit import DroppedSample, merge_dropped
        from pipeline.corpus.detect import InputFormatError, expand_corpus
        from pipeline.corpus.filter_stage import filter_corpus, write_corpus_documents
        from pipeline.filters import RuleShareError, build_chain, check_rule_shares

        config = RunConfig.load(args.config)
        build_chain(config.filters).prepare()  # a bad block-list or model path fails here, not in every task
        paths = expand_corpus(args.input)
        fs, tmp = filesystem(tmp_output)
        fs.makedirs(tmp, exist_ok=True)
        target = tmp_output.rstrip("/")

        def process(items):
            for index, path in items:
                stats, dropped = Stats(stage="filter"), DroppedSample(config.audit)
                try:
                    batches = filter_corpus(path, config.input, config.filters, stats, config.pii, dropped)
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
        try:  # before anything is committed: a rule that drops nearly everything stops the run here
            check_rule_shares(stats, config.filters, self.name)
        except RuleShareError as e:
            raise UserError(str(e)) from None
        merge_dropped(tmp_output, config.audit)
        return stats


if __name__ == "__main__":
    sys.exit(FilterJob().main())
