"""Counters that add up: every record that enters a stage leaves it or is dropped with a reason.

`Stats` is mergeable (`+`), so each task writes its own JSON and the driver sums them; a retried task
overwrites its own file, so Spark's retries never count a record twice.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

STATS_FILE = "_stats.json"  # a stage output's Stats, beside its data
STAGE_FILE = "_stage.json"  # what `sluice run` records beside a stage's output: its config hash, its position


class DropReason:
    """Canonical drop reasons; use these names so a typo fails at import time, not in a report."""

    MALFORMED_RECORD = "malformed_record"
    NOT_HTML = "not_html"
    DECODE_ERROR = "decode_error"
    TOO_LARGE = "too_large"
    TOO_COMPLEX = "too_complex"  # nested deeper than extract.nesting.MAX_DEPTH: parsing would outrun the time limit
    TIMEOUT = "timeout"
    EXTRACTION_ERROR = "extraction_error"
    EMPTY_TEXT = "empty_text"
    URL_BLOCKLIST = "url_blocklist"
    LANG = "lang"
    GOPHER_QUALITY = "gopher_quality"
    GOPHER_REPETITION = "gopher_repetition"
    C4 = "c4"
    FINEWEB = "fineweb"
    EXACT_DUPLICATE = "exact_duplicate"
    MINHASH_DUPLICATE = "minhash_duplicate"
    SEMANTIC_DUPLICATE = "semantic_duplicate"
    WEB_TYPE = "web_type"
    LOW_QUALITY = "low_quality"
    DOWNSAMPLED = "downsampled"
    MISSING_INPUT = "missing_input"
    CONTAMINATED = "contaminated"  # shares n-grams with an evaluation set (counter contaminated.<set> names it)
    CORRUPT_INPUT = "corrupt_input"  # rows of an input Parquet file left out because it is damaged


# Reasons that say the run failed to do its work, not that a document was judged: a stage losing more than its
# share of input to these stops instead of writing a thin output with rc 0 (loss_guard).
OPERATIONAL_DROPS = (DropReason.TIMEOUT, DropReason.DECODE_ERROR, DropReason.MALFORMED_RECORD,
                     DropReason.MISSING_INPUT, DropReason.CORRUPT_INPUT, DropReason.EXTRACTION_ERROR)


@dataclass
class Stats:
    """records_in = records_out + sum(dropped.values()); `counters` holds everything else worth reporting."""

    stage: str = ""
    records_in: int = 0
    records_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)
    failed_inputs: list[str] = field(default_factory=list)  # input files that could not be read at all

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] += n

    def __add__(self, other: Stats) -> Stats:
        return Stats(
            stage=self.stage or other.stage,
            records_in=self.records_in + other.records_in,
            records_out=self.records_out + other.records_out,
            dropped=self.dropped + other.dropped,
            counters=self.counters + other.counters,
            failed_inputs=sorted(set(self.failed_inputs) | set(other.failed_inputs)),
        )

    def balanced(self) -> bool:
        return self.records_in == self.records_out + sum(self.dropped.values())

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": dict(sorted(self.dropped.items())),
            "counters": dict(sorted(self.counters.items())),
            "failed_inputs": sorted(self.failed_inputs),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Stats:
        return cls(
            stage=d.get("stage", ""),
            records_in=int(d.get("records_in", 0)),
            records_out=int(d.get("records_out", 0)),
            dropped=Counter({k: int(v) for k, v in d.get("dropped", {}).items()}),
            counters=Counter(d.get("counters", {})),
            failed_inputs=list(d.get("failed_inputs", [])),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def merge(cls, parts: list[Stats], stage: str = "") -> Stats:
        total = cls(stage=stage)
        for part in parts:
            total = total + part
        total.stage = stage or total.stage
        return total


def loss_guard(stats: Stats, max_share: float, key: str = "integrity.max_operational_drop_share") -> str | None:
    """Why a stage must fail instead of committing `stats`' output (one line), or None.

    Operational drops (OPERATIONAL_DROPS) over `max_share` of the input: e.g. a cold numba cache made every page a
    timeout, and extract exited 0 with 25 of 400 pages. Or an output emptied by balancing alone: a weight of 0 (or
    NaN) for every category leaves no document, which is never what a corpus was built for."""
    if stats.records_in <= 0:
        return None
    lost = sorted(((n, r) for r in OPERATIONAL_DROPS if (n := stats.dropped.get(r, 0))), reverse=True)
    total = sum(n for n, _ in lost)
    if total > max_share * stats.records_in:
        reasons = ", ".join(f"{r} {n}" for n, r in lost)
        return (f"{total} of {stats.records_in} records ({total / stats.records_in:.1%}) dropped for operational "
                f"reasons ({reasons}), more than {key} = {max_share:g}; nothing was written")
    downsampled = stats.dropped.get(DropReason.DOWNSAMPLED, 0)
    if stats.records_out == 0 and downsampled:
        return (f"balancing left no document: all {downsampled} documents that reached it drew 0 copies "
                f"({downsampled / stats.records_in:.1%} of {stats.records_in} dropped as downsampled); "
                "check [classify.balance] and the weight column; nothing was written")
    return None
