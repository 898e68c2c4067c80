"""The entry points: one Spark job per stage (each runnable with spark-submit), the runner (`sluice run`) and the
`sluice` command. Jobs wire pipeline/ and classifiers/ functions into DataFrame operations and decide nothing
about a document themselves.

May import pipeline and classifiers; trainer and demo only inside the CLI subcommands that run them, never in a
module an executor loads. No module here may share a name with the standard library or a top-level package
(scripts run with jobs/ first on sys.path).
"""
