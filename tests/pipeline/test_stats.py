"""The loss guard: a stage that lost its input to operational failures, or whose output balancing emptied, fails."""

import pytest

from pipeline.stats import OPERATIONAL_DROPS, DropReason, Stats, loss_guard


def stats(records_in: int, records_out: int, **dropped: int) -> Stats:
    s = Stats(records_in=records_in, records_out=records_out)
    for reason, n in dropped.items():
        s.drop(reason, n)
    assert s.balanced()
    return s


def test_the_issue_case_cold_numba_cache_timeouts():
    """`400 in, 0 out, timeout 375`, exit 0: now one line naming the reason and the share."""
    line = loss_guard(stats(400, 0, timeout=375, empty_text=25), 0.2)
    assert line == ("375 of 400 records (93.8%) dropped for operational reasons (timeout 375), more than "
                    "integrity.max_operational_drop_share = 0.2; nothing was written")


@pytest.mark.parametrize("reason", OPERATIONAL_DROPS)
def test_every_operational_reason_counts_and_they_add_up(reason):
    assert reason in loss_guard(stats(100, 79, **{reason: 21}), 0.2)
    assert loss_guard(stats(100, 80, **{reason: 20}), 0.2) is None  # at the share: still fine
    mixed = loss_guard(stats(100, 70, **{reason: 15, DropReason.MISSING_INPUT if reason != "missing_input"
                                          else DropReason.TIMEOUT: 15}), 0.2)
    assert "30 of 100 records (30.0%)" in mixed


def test_judged_drops_never_trip_it():
    assert loss_guard(stats(100, 1, lang=50, minhash_duplicate=30, low_quality=19), 0.2) is None
    assert loss_guard(stats(0, 0), 0.0) is None


def test_an_output_emptied_by_balancing_fails():
    """A NaN weight gave every document 0 copies: tokenize wrote empty shards with rc 0."""
    line = loss_guard(stats(248, 0, downsampled=248), 0.2)
    assert line.startswith("balancing left no document: all 248 documents") and "[classify.balance]" in line
    assert loss_guard(stats(248, 1, downsampled=247), 0.2) is None
