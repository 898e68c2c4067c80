"""`sluice inspect SHARDS [--plots DIR] [--json FILE] [--html FILE] [--stages DIR ...]`: statistics, plots and an
HTML report of a shard directory (pipeline/inspect/report.py computes them, pipeline/inspect/html.py renders)."""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.inspect.report import format_report, inspect_shards, write_plots
from pipeline.shards.format import ShardError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice inspect", description="what to check before spending GPU hours")
    parser.add_argument("shards", help="shard directory (local path or fsspec URL)")
    parser.add_argument("--plots", default=None, help="directory for PNG plots")
    parser.add_argument("--json", default=None, help="write every number to this JSON file")
    parser.add_argument("--stages", nargs="+", default=None, help="stage outputs for the funnel, in order")
    parser.add_argument("--html", default=None,
                        help="write a self-contained HTML report (funnel, distributions, samples, dropped documents)")
    parser.add_argument("--verify", action="store_true", help="also check every shard's sha256 (reads all bytes)")
    args = parser.parse_args(argv)
    try:
        report = inspect_shards(args.shards, args.stages, args.verify)
    except ShardError as e:  # a user error like the other subcommands': one line, exit code 2
        print(f"sluice inspect: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"sluice inspect: {args.shards}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    if args.html:
        from pipeline.inspect.html import write_html

        print(f"report: {write_html(report, args.html)}")
    if args.plots:
        for png in write_plots(report, args.plots):
            print(f"plot: {png}")
    return 0
