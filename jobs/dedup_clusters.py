"""Near-duplicate clusters on Spark, for jobs/dedup.py: LSH candidates verified against full signatures in rounds
of bucket representatives (pipeline.dedup.primitives.near_duplicate_clusters states the same rule in plain Python), and
connected components of the verified edges, all DataFrame operations; signatures never reach the driver.
"""

from __future__ import annotations

from pipeline.dedup.primitives import DedupConfig

PAIRS_SCHEMA = "id string, rep string, ok boolean"


def binary_rows(rows):
    """A 2-D uint32 array as an Arrow binary column, one value per row, without a Python object per row."""
    import numpy as np
    import pyarrow as pa

    width = rows.shape[1] * 4
    offsets = np.arange(rows.shape[0] + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), rows.shape[0],
                                 [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows).tobytes())])


def _uint32_rows(column, n_rows: int):
    """Inverse of binary_rows for a column of equal-length values (Spark hands them back as (large) binary)."""
    import numpy as np
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offset_type = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    offsets = np.frombuffer(column.buffers()[1], dtype=offset_type)[column.offset : column.offset + n_rows + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(np.uint32).reshape(n_rows, -1)


def verify_pairs(batches, threshold: float):
    """mapInArrow: (id, rep, sig_a, sig_b) -> (id, rep, ok): whether the signatures estimate J >= threshold."""
    import pyarrow as pa

    from pipeline.dedup.lsh import verified

    for batch in batches:
        n = batch.num_rows
        ok = verified(_uint32_rows(batch.column("sig_a"), n), _uint32_rows(batch.column("sig_b"), n), threshold)
        yield pa.RecordBatch.from_arrays([batch.column("id"), batch.column("rep"), pa.array(ok, pa.bool_())],
                                         names=["id", "rep", "ok"])


def verified_groups(members, signatures, cfg: DedupConfig, counters: dict):
    """(key, id, rep) for every candidate `id` verified against its bucket's representative `rep`.

    The rounds of dedup.primitives.near_duplicate_clusters, as joins: `members` (key, id, bucket_n) are the buckets
    of two or more documents; each round's representatives are the pending members of highest degree (ties to
    the smallest id) per bucket, candidates are the
    other non-representative members, their distinct (id, rep) pairs meet both signatures in two joins and are
    checked in a mapInArrow. Every round ends in an action (its counts), on locally checkpointed rows."""
    from pyspark.sql import functions as F

    if cfg.verify:  # only candidates' signatures, partitioned by id once: each round shuffles its pairs alone
        signatures = (signatures.join(members.select("id").distinct(), "id").repartition("id")
                      .persist())
    sig_a = signatures.select("id", F.col("signature").alias("sig_a"))
    sig_b = signatures.select(F.col("id").alias("rep"), F.col("signature").alias("sig_b"))
    degree = members.groupBy("id").agg(F.sum(F.col("bucket_n") - 1).alias("degree"))
    members = members.select("key", "id").join(degree, "id").persist()
    pending, reps, groups = members, None, None
    for round_ in range(1, cfg.verify_rounds + 1):
        describe_phase(members.sparkSession, f"verify candidates, round {round_}")
        round_reps = pending.groupBy("key").agg(
            F.min(keeper_rank_column(F.col("degree"), F.col("id"))).alias("best")).select(
            "key", F.col("best.id").alias("rep"))
        new_reps = round_reps.select("key", F.col("rep").alias("id"))
        reps = new_reps if reps is None else reps.unionByName(new_reps)
        candidates = (members.join(round_reps, "key").join(reps, ["key", "id"], "left_anti")
                      .select("key", "id", "rep"))
        pairs = candidates.select("id", "rep").distinct()
        if cfg.verify:
            checked = pairs.join(sig_a, "id").join(sig_b, "rep").mapInArrow(
                lambda it: verify_pairs(it, cfg.threshold), PAIRS_SCHEMA)
        else:
            checked = pairs.withColumn("ok", F.lit(True))
        checked = checked.localCheckpoint()
        n_pairs, n_ok = checked.agg(F.count("*"), F.sum(F.col("ok").cast("long"))).first()
        if not n_pairs:
            break
        n_ok = n_ok or 0
        for name, value in (("verify_rounds", 1), ("near_candidate_pairs", n_pairs),
                            ("near_verified_pairs", n_ok), ("near_rejected_pairs", n_pairs - n_ok)):
            counters[name] = counters.get(name, 0) + value
        good = checked.where("ok").drop("ok")
        verified_now = candidates.join(good, ["id", "rep"]).select("key", "id", "rep")
        groups = verified_now if groups is None else groups.unionByName(verified_now)
        if n_ok == n_pairs:  # nothing rejected: no member is left without a representative
            break
        pending = (pending.join(round_reps, "key").where("id != rep").join(good, ["id", "rep"], "left_anti")
                   .select("key", "id", "degree").localCheckpoint())
        reps = reps.localCheckpoint()
    if groups is None:
        groups = members.sparkSession.createDataFrame([], "key long, id string, rep string")
    describe_phase(members.sparkSession, "verified groups")
    groups = groups.localCheckpoint()
    if cfg.verify:
        signatures.unpersist()
    members.unpersist()
    return groups


def describe_phase(spark, phase: str) -> None:
    """Name the Spark jobs that follow (UI, event log): benchmarks/dedup_scale_bench.py times the phases by it."""
    spark.sparkContext.setJobDescription(f"dedup: {phase}")


def keeper_rank_column(shared, doc_id):
    """dedup.primitives.keeper_rank as a Spark value: structs compare field by field, as Python's tuples do."""
    from pyspark.sql import functions as F

    return F.struct((-shared).alias("neg_shared"), doc_id.alias("id"))


def connected_components(edges, max_iterations: int):
    """(node, label = smallest node id of its component) for every node of the undirected edges (src, dst), and
    the rounds it took.

    Alternating large-star and small-star steps (Kiveris et al., "Connected Components in MapReduce and Beyond",
    2014): large-star links each node's larger neighbours to the smallest id of its neighbourhood, small-star
    links each node and its smaller neighbours to the smallest of those. Every step keeps the components and
    the graph ends as one star per component around its smallest id, in O(log n) rounds in practice (a chain of
    200 documents takes ~8; min-label propagation took ~100). Each round's edges are checkpointed, so lineage
    stays one round long; the run stops when a round leaves the edge set unchanged."""
    from pyspark.sql import functions as F

    def undirected(frame, a, b):
        return frame.select(F.least(a, b).alias("a"), F.greatest(a, b).alias("b")).where("a != b").distinct()

    current = undirected(edges, "src", "dst").localCheckpoint()
    size = current.count()
    for iteration in range(1, max_iterations + 1):
        describe_phase(edges.sparkSession, f"connected components, round {iteration}")
        both = current.select(F.col("a").alias("u"), F.col("b").alias("v")).unionByName(
            current.select(F.col("b").alias("u"), F.col("a").alias("v")))
        low = both.groupBy("u").agg(F.min("v").alias("low")).select("u", F.least("u", "low").alias("m"))
        large = undirected(both.join(low, "u").where("v > u"), "v", "m")
        smallest = large.groupBy("b").agg(F.min("a").alias("m"))
        small = undirected(large.join(smallest, "b").select("m", "a").unionByName(
            smallest.select("m", F.col("b").alias("a"))), "m", "a").localCheckpoint()
        small_size = small.count()
        if small_size == size and small.subtract(current).isEmpty():
            labels = (small.select(F.col("b").alias("node"), F.col("a").alias("label"))
                      .unionByName(small.select(F.col("a").alias("node"), F.col("a").alias("label")))
                      .groupBy("node").agg(F.min("label").alias("label")))
            return labels, iteration
        current, size = small, small_size
    raise RuntimeError(f"dedup: connected components did not converge in {max_iterations} rounds "
                       "(raise dedup.max_cc_iterations)")
