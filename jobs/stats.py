"""`sluice stats DIR...`: the funnel of one or more stage outputs, read from their _stats.json."""

from __future__ import annotations

import argparse
import json

from jobs.base import STATS_FILE, filesystem


def format_stats(path: str, stats: dict) -> str:
    lines = [f"{stats.get('stage') or path}: {path}", f"  records in   {stats['records_in']:>10,}"]
    for reason, n in sorted(stats.get("dropped", {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  - {reason:<22}{n:>10,}")
    lines.append(f"  records out  {stats['records_out']:>10,}")
    for key, n in sorted(stats.get("counters", {}).items()):
        lines.append(f"    {key:<24}{n:>10,}" if isinstance(n, (int, float)) else f"    {key:<24}{n}")
    for failed in stats.get("failed_inputs", []):
        lines.append(f"  ! unreadable input: {failed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice stats", description=__doc__)
    parser.add_argument("outputs", nargs="+", help="stage output directories")
    args = parser.parse_args(argv)
    for out in args.outputs:
        fs, path = filesystem(out)
        try:
            with fs.open(f"{path}/{STATS_FILE}") as f:
                stats = json.load(f)
        except FileNotFoundError:
            print(f"sluice stats: {out} has no {STATS_FILE} (stage not run or not finished)")
            return 1
        print(format_stats(out, stats))
    return 0
