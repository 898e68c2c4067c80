"""Tokenized Parquet shards: the format, the writer and the one reader (the trainer's too; imports no pyspark)."""
