"""The bundled MoE trainer (dots.llm1 architecture) for Sluice shards. Imports nothing here: torch is loaded by
the submodules (`trainer.train.main` is the `sluice train` entry point).

May import pipeline (the shard reader and the config loader) and torch. Never imports pyspark, jobs, classifiers or
demo: it meets the data pipeline only through the shard format, on GPU hosts without Spark.
"""
