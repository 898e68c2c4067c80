"""Spark plumbing for the near-duplicate decision of pipeline/dedup/clusters.py: it partitions, joins, dedups and
counts, and hands whole groups (buckets, neighbourhoods, clusters) to that module's functions in mapInArrow;
signatures never reach the driver.
"""

from __future__ import annotations

from pipeline.dedup import clusters
from pipeline.dedup.primitives import DedupConfig

PAIRS_SCHEMA = "id string, rep string, ok boolean"
ROUND_SCHEMA = "key long, id string, degree long, role int, rep string, ok boolean"
EDGES_SCHEMA = "a string, b string"


def by_group(frame, column: str, step, schema: str):
    """`step` (an Arrow table of whole groups -> a table) over `frame` partitioned and sorted by `column`."""

    def run(batches):
        for table in clusters.whole_groups(batches, column):
            yield from step(table).to_batches()

    return frame.repartition(column).sortWithinPartitions(column).mapInArrow(run, schema)


def verified_groups(members, signatures, cfg: DedupConfig, counters: dict):
    """(key, id, rep) for every candidate `id` verified against its bucket's representative `rep`.

    `members` (key, id, bucket_n) are the buckets of two or more documents. Each round, clusters.representative_round
    settles the last round's checks and picks each bucket's representative; the distinct (id, rep) pairs of the
    members to check meet both signatures in two joins and clusters.verify_pairs checks them; the results join back
    onto the members for the next round. Every round ends in an action (its counts), on locally checkpointed rows."""
    from pyspark.sql import functions as F

    if cfg.verify:  # only candidates' signatures, partitioned by id once: each round shuffles its pairs alone
        signatures = (signatures.join(members.select("id").distinct(), "id").repartition("id")
                      .persist())
    sig_a = signatures.select("id", F.col("signature").alias("sig_a"))
    sig_b = signatures.select(F.col("id").alias("rep"), F.col("signature").alias("sig_b"))
    degree = members.groupBy("id").agg(F.sum(F.col("bucket_n") - 1).alias("degree"))
    state = (members.select("key", "id").join(degree, "id")
             .select("key", "id", "degree", F.lit(clusters.PENDING).alias("role"),
                     F.lit(None).cast("string").alias("rep"), F.lit(None).cast("boolean").alias("ok")))
    groups = None
    for round_ in range(1, cfg.verify_rounds + 1):
        describe_phase(members.sparkSession, f"verify candidates, round {round_}")
        state = by_group(state, "key", clusters.representative_round, ROUND_SCHEMA).localCheckpoint()
        candidates = state.where(f"rep IS NOT NULL AND role != {clusters.REPRESENTATIVE}").select("key", "id", "rep")
        pairs = candidates.select("id", "rep").distinct()
        if cfg.verify:
            checked = pairs.join(sig_a, "id").join(sig_b, "rep").mapInArrow(
                lambda it: clusters.verify_pairs(it, cfg.threshold), PAIRS_SCHEMA)
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
        verified_now = candidates.join(checked.where("ok").drop("ok"), ["id", "rep"]).select("key", "id", "rep")
        groups = verified_now if groups is None else groups.unionByName(verified_now)
        if n_ok == n_pairs:  # nothing rejected: no member is left without a representative
            break
        state = state.drop("ok").join(checked, ["id", "rep"], "left").select(*clusters.ROUND_COLUMNS)
    if groups is None:
        groups = members.sparkSession.createDataFrame([], "key long, id string, rep string")
    describe_phase(members.sparkSession, "verified groups")
    groups = groups.localCheckpoint()
    if cfg.verify:
        signatures.unpersist()
    return groups


def near_duplicate_keepers(groups, labels):
    """(label, keeper) of every cluster, from the verified groups (key, id, rep) and the components' labels
    (node, label): clusters.verified_group_credits counts each document's shared buckets per bucket, their sum
    per document is its rank, and clusters.cluster_keepers picks each cluster's keeper by it."""
    from pyspark.sql import functions as F

    shared = (by_group(groups, "key", clusters.verified_group_credits, "id string, n long")
              .groupBy("id").agg(F.sum("n").alias("shared")))
    ranked = labels.join(shared.withColumnRenamed("id", "node"), "node").select("label", "node", "shared")
    return by_group(ranked, "label", clusters.cluster_keepers, "label string, keeper string")


def describe_phase(spark, phase: str) -> None:
    """Name the Spark jobs that follow (UI, event log): benchmarks/dedup_scale_bench.py times the phases by it."""
    spark.sparkContext.setJobDescription(f"dedup: {phase}")


def connected_components(edges, max_iterations: int):
    """(node, label = smallest node id of its component) for every node of the undirected edges (src, dst), and
    the rounds it took: clusters.large_star and clusters.small_star alternated until a round leaves the edge set
    unchanged (one star per component around its smallest id). Each round's edges are checkpointed, so lineage
    stays one round long."""
    from pyspark.sql import functions as F

    current = (edges.select(F.least("src", "dst").alias("a"), F.greatest("src", "dst").alias("b"))
               .where("a != b").distinct().localCheckpoint())
    size = current.count()
    for iteration in range(1, max_iterations + 1):
        describe_phase(edges.sparkSession, f"connected components, round {iteration}")
        both = current.select(F.col("a").alias("u"), F.col("b").alias("v")).unionByName(
            current.select(F.col("b").alias("u"), F.col("a").alias("v")))
        large = by_group(both, "u", clusters.large_star, EDGES_SCHEMA).distinct()
        small = by_group(large, "b", clusters.small_star, EDGES_SCHEMA).distinct().localCheckpoint()
        small_size = small.count()
        if small_size == size and small.subtract(current).isEmpty():
            labels = (small.select(F.col("b").alias("node"), F.col("a").alias("label"))
                      .unionByName(small.select(F.col("a").alias("node"), F.col("a").alias("label")))
                      .groupBy("node").agg(F.min("label").alias("label")))
            return labels, iteration
        current, size = small, small_size
    raise RuntimeError(f"dedup: connected components did not converge in {max_iterations} rounds "
                       "(raise dedup.max_cc_iterations)")
