"""spark-submit jobs/extract.py --input GLOB_OR_URLS --output DIR [--config run.toml]

WARC files are distributed over tasks by path (one task per file); each task streams its file through
`pipeline.extract_stage.extract_documents` and writes its own stats. Records never pass through the driver.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # `spark-submit jobs/extract.py` runs this file as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.base import SparkJob, merge_task_stats, rename_parts, write_task_stats  # noqa: E402
from pipeline.stats import Stats  # noqa: E402


class ExtractJob(SparkJob):
    name = "extract"
    description = "WARC/ARC files → clean Document Parquet (extraction, language id, rule-based filters)"

    def run(self, spark, args, tmp_output: str) -> Stats:
        from pyspark.sql.types import StructType

        from pipeline.document import DOCUMENT_COLUMNS, document_arrow_schema
        from pipeline.extract_stage import extract_documents
        from pipeline.run_config import RunConfig
        from pipeline.warc import expand_inputs

        config = RunConfig.load(args.config)
        paths = expand_inputs(args.input)
        if not paths:
            raise SystemExit(f"extract: no input matches {' '.join(args.input)}")
        schema = StructType.fromJson(_spark_schema_json(document_arrow_schema()))

        def process(partition: int, items):
            for _, path in items:
                stats = Stats(stage="extract")
                for doc in extract_documents(path, config.extract, config.filters, stats):
                    row = doc.to_row()
                    yield tuple(row[c] for c in DOCUMENT_COLUMNS)
                write_task_stats(tmp_output, partition, stats)

        rdd = spark.sparkContext.parallelize(list(enumerate(paths)), numSlices=len(paths))
        frame = spark.createDataFrame(rdd.mapPartitionsWithIndex(process), schema)
        frame.write.mode("overwrite").parquet(tmp_output)
        rename_parts(tmp_output)
        return merge_task_stats(tmp_output, self.name)


def _spark_schema_json(arrow_schema) -> dict:
    """Arrow → Spark schema without going through pandas (pyspark has no public converter for this)."""
    names = {"string": "string", "int64": "long", "float": "float", "double": "double", "int32": "integer"}
    return {
        "type": "struct",
        "fields": [
            {"name": f.name, "type": names[str(f.type)], "nullable": True, "metadata": {}} for f in arrow_schema
        ],
    }


if __name__ == "__main__":
    sys.exit(ExtractJob().main())
