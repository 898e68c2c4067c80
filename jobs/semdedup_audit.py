"""`_semantic_duplicates/` of the semantic dedup stage: every removed document with what removed it, so that a user
can audit a sample (a removal is only as good as the pair behind it)."""

from __future__ import annotations


def audit_rows(dropped, edges, assigned):
    """The removed documents with what removed them: `kept` (their component's keeper) and `kept_score` (cosine
    to it), `matched` (the document each was paired with at the highest cosine) and `score` (that cosine)."""
    from pyspark.sql import functions as F

    both = edges.select(F.col("src").alias("id"), F.col("dst").alias("other"), "sim").unionByName(
        edges.select(F.col("dst").alias("id"), F.col("src").alias("other"), "sim"))
    best = both.groupBy("id").agg(F.max(F.struct("sim", "other")).alias("best")).select(
        "id", F.col("best.other").alias("matched"), F.col("best.sim").alias("score"))
    vec = assigned.select("id", "vec")
    rows = (dropped.select("id", "sem_cluster", F.col("sem_dup_cluster").alias("kept")).join(best, "id")
            .join(vec, "id").join(vec.select(F.col("id").alias("kept"), F.col("vec").alias("kept_vec")), "kept"))
    return rows.mapInArrow(kept_scores, "id string, sem_cluster string, kept string, kept_score float, "
                                         "matched string, score float")


def kept_scores(batches):
    import numpy as np
    import pyarrow as pa

    from pipeline.semdedup.primitives import from_float16_rows

    for batch in batches:
        a = from_float16_rows(batch.column("vec").to_pylist())
        b = from_float16_rows(batch.column("kept_vec").to_pylist())
        cos = np.einsum("ij,ij->i", a, b) if batch.num_rows else np.zeros(0, np.float32)
        yield pa.RecordBatch.from_arrays(
            [batch.column("id"), batch.column("sem_cluster"), batch.column("kept"), pa.array(cos, pa.float32()),
             batch.column("matched"), batch.column("score")],
            names=["id", "sem_cluster", "kept", "kept_score", "matched", "score"])
