"""The `sluice` command. Each subcommand lives with the code it drives and is imported only when used,
so `sluice train` works on a host with torch and no pyspark, and `sluice inspect` needs no torch."""

from __future__ import annotations

import sys
from collections.abc import Callable

Main = Callable[[list[str]], int]


# Each subcommand's entry, imported when it runs; written as imports (not module-name strings) so that the layer
# test and any checker see that this command, and only it, reaches trainer/ and demo/ from jobs/.
def _sample_crawl() -> Main:
    from demo.crawl import main

    return main


def _stats() -> Main:
    from jobs.stats import main

    return main


def _run() -> Main:
    from jobs.run import main

    return main


def _config() -> Main:
    from jobs.run import config_main

    return config_main


def _classifiers() -> Main:
    return classifiers_main


def _tokenizer() -> Main:
    from jobs.tokenizer_cli import main

    return main


def _inspect() -> Main:
    from jobs.inspect_cli import main

    return main


def _train() -> Main:
    from trainer.train import main

    return main


def _export_hf() -> Main:
    from trainer.export import main

    return main


# subcommand -> (its entry, one-line help)
SUBCOMMANDS: dict[str, tuple[Callable[[], Main], str]] = {
    "sample-crawl": (_sample_crawl, "write a realistic sample crawl of WARC.gz files"),
    "stats": (_stats, "print the _stats.json of stage outputs"),
    "run": (_run, "run every stage: extract (or filter) → dedup → classify → tokenize"),
    "config": (_config, "print the default run.toml"),
    "classifiers": (_classifiers, "train the quality, domain and clutter models"),
    "tokenizer": (_tokenizer, "train a byte-level BPE tokenizer on a corpus"),
    "inspect": (_inspect, "statistics and plots of a shard directory"),
    "train": (_train, "train the MoE model on shards, or print its memory plan (--plan)"),
    "export-hf": (_export_hf, "write a trained run as a Hugging Face dots1 model directory"),
}


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
    lines += [f"  {name:<14}{help_}" for name, (_, help_) in SUBCOMMANDS.items()]
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
    entry, _ = SUBCOMMANDS[command]
    try:
        command_main = entry()
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
