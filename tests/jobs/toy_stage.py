"""A stage written the way a new one is: one module with one `Stage` subclass (here, in the tests), plus one line in
jobs/registry.py (the test puts it there with monkeypatch). It adds each document's word count."""

from __future__ import annotations

from jobs.base import merge_task_stats, read_verified_parquet, with_skipped, write_partitions, write_task_stats
from jobs.stage import Settings, Stage, StageArgs
from pipeline.stats import Stats


class WordCountStage(Stage):
    name = "words"
    directory = "counted"
    description = "documents → the same documents with n_words"
    tables = ("audit",)  # read by nothing here: the hash test still sees it change the hash

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        from pyspark.sql.types import LongType, StructField, StructType

        frame, skipped = read_verified_parquet(spark, args.input, settings.integrity, self.name)
        schema = StructType([*frame.schema.fields, StructField("n_words", LongType())])

        def count(batches):
            import pyarrow.compute as pc
            from pyspark import TaskContext

            stats = Stats(stage="words")
            for batch in batches:
                words = pc.list_value_length(pc.utf8_split_whitespace(batch.column("text"))).cast("int64")
                stats.records_in += batch.num_rows
                stats.records_out += batch.num_rows
                yield batch.append_column("n_words", words)
            write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)

        write_partitions(frame, tmp_output, count, schema)
        return with_skipped(merge_task_stats(tmp_output, self.name), skipped)
