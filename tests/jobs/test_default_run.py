"""What a default `sluice run` over the sample crawl (the session's reference run, tests/jobs/pipeline_fixtures.py)
writes about each page besides its text: the extract stage's page type, carried as web_type through classify into
the shards and `sluice inspect`."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.jobs.pipeline_fixtures import reference_run

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return reference_run(tmp_path_factory)


def test_web_type_is_the_page_type_from_extract_to_shards(reference):
    from pipeline.extract.page_type import PAGE_TYPES
    from pipeline.inspect.report import inspect_shards

    run = reference.run
    documents = pq.read_table(run / "documents", columns=["page_type", "page_type_score"]).to_pylist()
    assert sum(d["page_type"] in PAGE_TYPES for d in documents) >= 0.95 * len(documents)
    assert all(0 < d["page_type_score"] <= 1 for d in documents if d["page_type"])
    classified = pq.read_table(run / "classified", columns=["page_type", "page_type_score", "web_type",
                                                            "web_type_score"]).to_pylist()
    assert classified and all(r["web_type"] == (r["page_type"] or "") for r in classified)
    assert all(r["web_type_score"] == (r["page_type_score"] or 0.0) for r in classified)
    shards = pq.read_table(run / "shards", columns=["web_type"]).column("web_type").to_pylist()
    assert set(shards) <= {*PAGE_TYPES, ""} and sum(t != "" for t in shards) >= 0.95 * len(shards)
    per_type = {row["name"]: row["tokens"] for row in inspect_shards(str(run / "shards"))["tokens_per_web_type"]}
    assert per_type["article"] > 0 and set(per_type) <= {*PAGE_TYPES, ""}, per_type
