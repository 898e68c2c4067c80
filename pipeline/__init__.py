"""Document processing in pure Python: WARC reading, extraction, language id, rule-based filters, dedup primitives
(MinHash, LSH bands, the keeper rule), tokenization, Parquet shards and their statistics, the config loader.

Every function here runs in plain Python, on an executor or in a test. May import: the standard library and
document libraries (pyarrow, warcio, trafilatura, fastText, tokenizers, ...), heavy ones inside functions. Never
imports pyspark, torch, classifiers, jobs, trainer or demo: it is the bottom layer, shipped to every executor.
"""
