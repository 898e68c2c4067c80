"""WARC reader under damage: share of files that lose an undamaged record, before and after the member-wise reader
(or, with --plain, uncompressed .warc files before and after the frame-checked reader).

    .venv/bin/python benchmarks/warc_fuzz_bench.py [--files 250] [--seed 0] [--plain]

Input: demo/warc_damage.py files (5 response records, one gzip member each, one damage per file) for
every damage kind and position, `--files` seeds per (kind, position), written to a temp dir. Ours:
pipeline.warc.reader as it is now. Reference: the reader before this work, `pipeline/warc.py` of commit
BASELINE taken from git at run time (`git show`) into a temp module, run on the same files in the same process. A
file counts as a loss when an undamaged record does not come out or the reader raises (a raise fails the Spark task,
so the whole job). Also counted: records that come out changed or at a wrong offset, damaged records neither yielded
nor counted `malformed_record`, unbalanced stats, and files a reader is stuck on (still reading after 20 s or past 3
GiB: the baseline can loop forever on one flipped byte; such a file counts as raised). Writes
benchmarks/results/warc_fuzz.json.

--plain: the same records uncompressed (.warc), with `mixed` (a record's body yielded under another record's id or
URL) counted as well; reference: the reader before frame checking, pipeline/warc.py with its warc_gzip.py and
warc_record.py of commit PLAIN_BASELINE, loaded as a temp package. A flip in a plain file's WARC header lines is
undetectable (nothing covers them) and is not counted as changed (demo/warc_damage.py). Writes
benchmarks/results/warc_fuzz_plain.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from demo.warc_damage import KINDS, judge, make, positions  # noqa: E402

BASELINE = "c1bea01"  # the last commit with the warcio-stream reader
PLAIN_BASELINE = "b672884"  # the last commit reading plain files with warcio from each record start
FIELDS = ("raised", "lost_undamaged", "changed", "mixed", "uncounted", "unbalanced", "hung")
FILE_LIMIT_S = 20  # a reader still busy with one 5-record file after this long is stuck (the baseline can loop)
MEMORY_LIMIT = 3 << 30  # address space: a reader that runs away is stopped by a MemoryError, not by the OOM killer


class Hung(BaseException):
    """A BaseException, so that no `except Exception` in a reader swallows it and carries on."""


_armed = [False]


def _alarm(signum, frame):
    if _armed[0]:
        raise Hung()


def read_with_limit(module, path: str, stats, hung: list) -> list:
    """The reader's responses; a file it is still reading after FILE_LIMIT_S (or that exhausts memory) is `hung`."""
    _armed[0] = True
    signal.setitimer(signal.ITIMER_REAL, FILE_LIMIT_S, 1.0)  # fires again until cleared, should one be swallowed
    try:
        return list(module.iter_responses(path, stats))
    except (Hung, MemoryError) as e:
        _armed[0] = False
        hung.append(path)
        raise RuntimeError(f"reader stuck: {type(e).__name__}") from None
    finally:
        _armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def load_baseline(tmp: Path):
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE}:pipeline/warc.py"],
                            check=True, capture_output=True, text=True).stdout
    path = tmp / "warc_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("warc_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_plain_baseline(tmp: Path):
    """pipeline/warc.py of PLAIN_BASELINE and the two modules it imports, as package `warc_plain_baseline`."""
    package = tmp / "warc_plain_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("warc", "warc_gzip", "warc_record"):
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{PLAIN_BASELINE}:pipeline/{name}.py"],
                                check=True, capture_output=True, text=True).stdout
        for other in ("warc_gzip", "warc_record"):
            source = source.replace(f"pipeline.{other}", f"warc_plain_baseline.{other}")
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp))
    return importlib.import_module("warc_plain_baseline.warc")


def run(readers: dict, n_files: int, seed: int, tmp: Path, plain: bool = False) -> dict:
    table = {name: {} for name in readers}
    for kind in KINDS:
        for position in positions(kind):
            counts = {name: dict.fromkeys(FIELDS, 0) for name in readers}
            for s in range(seed, seed + n_files):
                damaged = make(s, kind, position, plain)
                path = tmp / ("f.warc" if plain else "f.warc.gz")
                path.write_bytes(damaged.data)
                for name, module in readers.items():
                    hung: list = []
                    with contextlib.redirect_stderr(io.StringIO()):  # warcio prints every error it swallows
                        verdict = judge(damaged, lambda p, st, m=module, h=hung: read_with_limit(m, p, st, h),
                                        str(path))
                    for f in FIELDS[:-1]:
                        counts[name][f] += getattr(verdict, f)
                    counts[name]["hung"] += len(hung)
                    if hung:
                        print(f"{name} reader stuck on {kind}@{position} seed {s}", flush=True)
            for name in readers:
                table[name][f"{kind}@{position}"] = {f: counts[name][f] / n_files for f in FIELDS}
    return table


def summary(cells: dict) -> dict:
    kinds = {}
    for key, cell in cells.items():
        kinds.setdefault(key.split("@")[0], []).append(cell)
    return {k: {f: sum(c[f] for c in v) / len(v) for f in FIELDS} for k, v in kinds.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=250, help="seeds per (damage kind, position)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plain", action="store_true", help="uncompressed .warc files (frame-checked reader)")
    args = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)  # both readers log every malformed record
    signal.signal(signal.SIGALRM, _alarm)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, resource.getrlimit(resource.RLIMIT_AS)[1]))
    import pipeline.warc.reader as ours

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        baseline = load_plain_baseline(tmp) if args.plain else load_baseline(tmp)
        t0 = time.perf_counter()
        table = run({"after": ours, "before": baseline}, args.files, args.seed, tmp, args.plain)
        wall = time.perf_counter() - t0
    after, before = summary(table["after"]), summary(table["before"])
    n_cells = sum(len(positions(k)) for k in KINDS)
    loss_after = sum(table["after"][c]["lost_undamaged"] for c in table["after"]) / n_cells
    loss_before = sum(table["before"][c]["lost_undamaged"] for c in table["before"]) / n_cells
    print(f"{'kind@position':24} {'lost before':>12} {'lost after':>11} {'raised b/a':>11} {'uncounted b/a':>14}"
          f" {'changed b/a':>12} {'mixed b/a':>12} {'hung b/a':>9}")
    for cell in table["after"]:
        b, a = table["before"][cell], table["after"][cell]
        print(f"{cell:24} {b['lost_undamaged']:12.3f} {a['lost_undamaged']:11.3f} "
              f"{b['raised']:5.3f}/{a['raised']:.3f} {b['uncounted']:7.3f}/{a['uncounted']:.3f} "
              f"{b['changed']:6.3f}/{a['changed']:.3f} {b['mixed']:6.3f}/{a['mixed']:.3f} "
              f"{b['hung']:5.3f}/{a['hung']:.3f}")
    print(f"all: files losing an undamaged record {loss_before:.3f} before, {loss_after:.3f} after "
          f"({n_cells * args.files} files, {wall:.0f} s for both readers)")
    reference = (f"pipeline/warc.py, warc_gzip.py, warc_record.py at {PLAIN_BASELINE}" if args.plain
                 else f"pipeline/warc.py at {BASELINE}") + " (git show at run time)"
    mixed_after = sum(table["after"][c]["mixed"] for c in table["after"]) / n_cells
    mixed_before = sum(table["before"][c]["mixed"] for c in table["before"]) / n_cells
    print(f"all: files with a record mixed up {mixed_before:.3f} before, {mixed_after:.3f} after")
    result = {
        "name": "warc_fuzz_plain" if args.plain else "warc_fuzz",
        "machine": describe_machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "ours": loss_after,
        "reference": loss_before,
        "ratio": loss_after / loss_before if loss_before else None,
        "unit": "share of damaged files that lose an undamaged record (or raise); lower is better",
        "params": {"files_per_cell": args.files, "seed": args.seed, "records_per_file": 5, "plain": args.plain,
                   "kinds": list(KINDS), "reference": reference},
        "mixed": {"ours": mixed_after, "reference": mixed_before},
        "by_kind": {"before": before, "after": after},
        "by_cell": table,
    }
    out = ROOT / "benchmarks" / "results" / f"{result['name']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
