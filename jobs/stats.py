"""`sluice stats DIR...`: the funnel of one or more stage outputs, read from their _stats.json."""

from __future__ import annotations

import argparse
import json
import sys

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
            if fs.isfile(path):
                raise NotADirectoryError
            with fs.open(f"{path}/{STATS_FILE}") as f:
                stats = json.load(f)
            text = format_stats(out, stats)
        except NotADirectoryError:
            return _user_error(f"{out} is a file; give a stage output directory")
        except FileNotFoundError:
            return _user_error(f"{out} has no {STATS_FILE} (stage not run or not finished)")
        except (ValueError, KeyError, TypeError, AttributeError) as e:  # not JSON, or not stats
            return _user_error(f"{out}/{STATS_FILE} is damaged ({type(e).__name__}: {e})")
        except OSError as e:
            return _user_error(f"cannot read {out}: {e.strerror or e}")
        print(text)
    return 0


def _user_error(message: str) -> int:
    """Exit 2, one line, like argparse and every other subcommand."""
    print(f"sluice stats: {message}", file=sys.stderr)
    return 2
