"""Model-based processing: the quality scorer, the domain classifier, the web-clutter line remover, category
balancing; training and inference of each. Classifiers score, filters decide.

May import pipeline. Never imports pyspark, torch, jobs, trainer or demo (commands that need Spark or the demo's
labels are handed in by jobs/cli.py). Shipped to every executor.
"""
