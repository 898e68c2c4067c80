"""The `sluice` command. Each subcommand lives with the code it drives and is imported only when used,
so `sluice train` works on a host with torch and no pyspark, and `sluice inspect` needs no torch."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module:function taking argv, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sample-crawl": ("demo.crawl:main", "write a realistic sample crawl of WARC.gz files"),
    "stats": ("jobs.stats:main", "print the _stats.json of stage outputs"),
    "run": ("jobs.run:main", "run extract → dedup → classify → tokenize"),
    "config": ("jobs.run:config_main", "print the default run.toml"),
    "classifiers": ("jobs.cli:classifiers_main", "train the quality, domain and clutter models"),
    "tokenizer": ("jobs.tokenizer_cli:main", "train a byte-level BPE tokenizer on a corpus"),
    "inspect": ("jobs.inspect_cli:main", "statistics and plots of a shard directory"),
    "train": ("trainer.train:main", "train the MoE model on shards, or print its memory plan (--plan)"),
    "export-hf": ("trainer.export:main", "write a trained run as a Hugging Face dots1 model directory"),
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
    target, _ = SUBCOMMANDS[command]
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"sluice {command}: not available in this build ({module_name} is missing)", file=sys.stderr)
            return 2
        print(f"sluice {command}: missing dependency '{e.name}' (pip install 'sluice[train]' for training)",
              file=sys.stderr)
        return 2
    result = getattr(module, func_name)(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
