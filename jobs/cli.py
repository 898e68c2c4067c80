"""The `sluice` command. Each subcommand lives with the code it drives and is imported only when used,
so `sluice train` works on a host with torch and no pyspark, and `sluice inspect` needs no torch."""

from __future__ import annotations

import sys
from collections.abc import Callable

Main = Callable[[list[str]], int]

# subcommand -> one-line help
SUBCOMMANDS: dict[str, str] = {
    "sample-crawl": "write a realistic sample crawl of WARC.gz files",
    "stats": "print the _stats.json of stage outputs",
    "run": "run every stage: extract (or filter) → dedup → classify → tokenize",
    "config": "print the default run.toml",
    "classifiers": "train the quality, domain and clutter models",
    "tokenizer": "train a byte-level BPE tokenizer on a corpus",
    "inspect": "statistics and plots of a shard directory",
    "train": "train the MoE model on shards, or print its memory plan (--plan)",
    "export-hf": "write a trained run as a Hugging Face dots1 model directory",
}


def entry(command: str) -> Main:
    """The subcommand's main, imported only when it runs (so `sluice train` needs no pyspark, `sluice inspect` no
    torch); written as imports, not module-name strings, so that the layer test and any checker see that this
    command, and only it, reaches trainer/ and demo/ from jobs/."""
    match command:
        case "sample-crawl":
            from demo.crawl import main
        case "stats":
            from jobs.stats import main
        case "run":
            from jobs.run import main
        case "config":
            from jobs.run import config_main as main
        case "classifiers":
            main = classifiers_main
        case "tokenizer":
            from jobs.tokenizer_cli import main
        case "inspect":
            from jobs.inspect_cli import main
        case "train":
            from trainer.train import main
        case "export-hf":
            from trainer.export import main
        case _:
            raise KeyError(command)
    return main


def classifiers_main(argv: list[str]) -> int:
    """`sluice classifiers`: classifiers/cli.py, plus the two subcommands that need a layer above classifiers/."""
    from classifiers.cli import main

    def cluster_domains(rest: list[str]) -> int:
        from jobs.cluster_domains import main as cluster_main  # Spark MLlib

        return cluster_main(rest)

    def train_demo(rest: list[str]) -> int:
        from demo.models import main as demo_main

        return demo_main(rest)

    def crawl_pages(crawl: str) -> list:
        from demo.labels import crawl_clutter_pages

        return crawl_clutter_pages(crawl)

    extra = {"cluster-domains": (cluster_domains, "categories without labels (Spark MLlib KMeans)"),
             "train-demo": (train_demo, "small models from a sample crawl's labels, for `make demo`")}
    return main(argv, extra=extra, crawl_pages=crawl_pages)


def usage() -> str:
    lines = ["usage: sluice <command> [args]", "", "commands:"]
    lines += [f"  {name:<14}{help_}" for name, help_ in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"sluice: unknown command '{command}'\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        command_main = entry(command)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in ("demo", "jobs", "trainer", "classifiers", "pipeline"):
            print(f"sluice {command}: not available in this build ({e.name} is missing)", file=sys.stderr)
            return 2
        print(f"sluice {command}: missing dependency '{e.name}' (pip install 'sluice[train]' for training, "
              "'sluice[data]' for the pipeline)", file=sys.stderr)
        return 2
    result = command_main(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
