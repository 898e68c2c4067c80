"""Dedup stage: exact copies, MinHash-LSH near duplicates (connected components) and dots.llm1 line dedup.

    spark-submit jobs/dedup.py --input DIR --output DIR [--config run.toml]

Plan: (1) one mapInArrow pass computes, per document, a fingerprint of its normalised text, its LSH band keys,
its MinHash signature (kept apart, read only to verify candidates) and the keys of its first/last lines;
(2) exact groups by fingerprint, each represented by its smallest id; (3) representatives sharing a band key are
candidates, checked against each bucket's representative(s) by the share of equal signature slots, in rounds
(pipeline.dedup.near_duplicate_clusters states the rule in plain Python; signatures meet the candidate pairs in
two joins, never on the driver); connected components of the verified edges come from min-label propagation
with pointer jumping, all DataFrame operations; (4) each cluster keeps the member that shares the most verified
buckets, ties to the smallest id (pipeline.dedup.keeper_rank; an exact group keeps its smallest id), so the
kept set depends on the data alone, never on partitioning; (5) lines seen more than line_max_occurrences
times keep their first occurrences in (document id, line) order; (6) documents are joined with their verdicts,
hash-partitioned and sorted by id, and written.
"""

from __future__ import annotations

import math
import sys

from jobs.base import (
    SparkJob,
    filesystem,
    merge_task_stats,
    read_verified_parquet,
    rename_parts,
    with_skipped,
    write_task_stats,
)
from pipeline.config import load_toml
from pipeline.dedup import DedupConfig
from pipeline.stats import DropReason, Stats

KEEP, EXACT, NEAR = 0, 1, 2
_REASONS = {EXACT: DropReason.EXACT_DUPLICATE, NEAR: DropReason.MINHASH_DUPLICATE}
KEYS_SCHEMA = ("id string, exact_hi long, exact_lo long, band_keys array<long>, signature binary, "
               "line_idx array<int>, line_keys array<long>")
PAIRS_SCHEMA = "id string, rep string, ok boolean"


def document_keys(batches, cfg: DedupConfig, bands: int, rows: int):
    """mapInArrow: (id, text) batches -> fingerprint, band keys, signature and line keys per document."""
    import numpy as np
    import pyarrow as pa

    from pipeline.dedup import batch_line_keys, text_fingerprints
    from pipeline.lsh import band_hashes
    from pipeline.minhash import MinHasher

    hasher = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed)
    for batch in batches:
        for start in range(0, batch.num_rows, cfg.batch_rows):
            part = batch.slice(start, cfg.batch_rows)
            texts = [t or "" for t in part.column("text").to_pylist()]
            fp = text_fingerprints(texts).view("int64")
            band_lists = [[] for _ in texts]
            signatures = np.zeros((len(texts), 0), dtype=np.uint32)
            if cfg.near:
                signatures = hasher.signatures(texts)
                keys = band_hashes(signatures, bands, rows, cfg.seed)
                band_lists = [row.tolist() if row.any() else [] for row in keys]  # key 0: no words
            if not (cfg.near and cfg.verify):
                signatures = signatures[:, :0]
            line_idx, line_keys = (
                batch_line_keys(texts, cfg.line_first, cfg.line_last) if cfg.lines else ([[]] * len(texts),) * 2
            )
            yield pa.RecordBatch.from_arrays(
                [part.column("id"), pa.array(fp[:, 0]), pa.array(fp[:, 1]), pa.array(band_lists, pa.list_(pa.int64())),
                 _binary_rows(signatures), pa.array(line_idx, pa.list_(pa.int32())),
                 pa.array(line_keys, pa.list_(pa.int64()))],
                names=["id", "exact_hi", "exact_lo", "band_keys", "signature", "line_idx", "line_keys"],
            )


def _binary_rows(rows):
    """A 2-D uint32 array as an Arrow binary column, one value per row, without a Python object per row."""
    import numpy as np
    import pyarrow as pa

    width = rows.shape[1] * 4
    offsets = np.arange(rows.shape[0] + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.binary(), rows.shape[0],
                                 [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows).tobytes())])


def _uint32_rows(column, n_rows: int):
    """Inverse of _binary_rows for a column of equal-length values (Spark hands them back as (large) binary)."""
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

    from pipeline.lsh import verified

    for batch in batches:
        n = batch.num_rows
        ok = verified(_uint32_rows(batch.column("sig_a"), n), _uint32_rows(batch.column("sig_b"), n), threshold)
        yield pa.RecordBatch.from_arrays([batch.column("id"), batch.column("rep"), pa.array(ok, pa.bool_())],
                                         names=["id", "rep", "ok"])


def verified_groups(members, signatures, cfg: DedupConfig, counters: dict):
    """(key, id, rep) for every candidate `id` verified against its bucket's representative `rep`.

    The rounds of pipeline.dedup.near_duplicate_clusters, as joins: `members` (key, id, bucket_n) are the buckets
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
        _describe(members.sparkSession, f"verify candidates, round {round_}")
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
    _describe(members.sparkSession, "verified groups")
    groups = groups.localCheckpoint()
    if cfg.verify:
        signatures.unpersist()
    members.unpersist()
    return groups


def _describe(spark, phase: str) -> None:
    """Name the Spark jobs that follow (UI, event log): benchmarks/dedup_scale_bench.py times the phases by it."""
    spark.sparkContext.setJobDescription(f"dedup: {phase}")


def keeper_rank_column(shared, doc_id):
    """pipeline.dedup.keeper_rank as a Spark value: structs compare field by field, as Python's tuples do."""
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
        _describe(edges.sparkSession, f"connected components, round {iteration}")
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


def apply_verdicts(batches, columns: list[str], tmp_output: str):
    """mapInArrow: drop duplicates, remove repeated lines, count everything; one stats file per task."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark import TaskContext

    from pipeline.dedup import remove_lines

    stats = Stats(stage="dedup")
    for batch in batches:
        stats.records_in += batch.num_rows
        status = batch.column("status").to_numpy(zero_copy_only=False)
        for code, reason in _REASONS.items():
            stats.drop(reason, int((status == code).sum()))
        kept = batch.filter(pa.array(status == KEEP))
        removals = kept.column("remove_lines").to_pylist()
        if any(removals):
            texts = kept.column("text").to_pylist()
            for i, remove in enumerate(removals):
                if remove:
                    texts[i], removed_chars = remove_lines(texts[i], remove)
                    stats.count("lines_removed", len(remove))
                    stats.count("line_removed_chars", removed_chars)
                    stats.count("documents_with_lines_removed")
            text = pa.array(texts, pa.string())
            kept = kept.set_column(kept.schema.get_field_index("text"), "text", text)
            if "n_chars" in columns:
                n_chars = pc.utf8_length(text).cast(pa.int64())
                kept = kept.set_column(kept.schema.get_field_index("n_chars"), "n_chars", n_chars)
            has_words = pa.array([not remove or bool(t.strip()) for t, remove in zip(texts, removals, strict=True)])
            stats.drop(DropReason.EMPTY_TEXT, kept.num_rows - int(pc.sum(has_words).as_py() or 0))
            kept = kept.filter(has_words)
        stats.records_out += kept.num_rows
        yield kept.select(columns)
    write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)


class DedupJob(SparkJob):
    name = "dedup"
    description = "Remove exact, MinHash-LSH near-duplicate documents and repeated boundary lines."

    def run(self, spark, args, tmp_output: str) -> Stats:
        from pyspark.errors import AnalysisException

        from pipeline.integrity import IntegrityConfig

        cfg = load_toml(DedupConfig, args.config, section="dedup")
        bands, rows = cfg.lsh_params()
        integrity = load_toml(IntegrityConfig, args.config, section="integrity")
        try:
            docs, skipped = read_verified_parquet(spark, args.input, integrity, self.name)
        except AnalysisException as e:
            raise SystemExit(f"dedup: cannot read Parquet input {args.input}: {e}") from None
        missing = {"id", "text"} - set(docs.columns)
        if missing:
            raise SystemExit(f"dedup: input {args.input} lacks column(s) {', '.join(sorted(missing))}")
        input_bytes = _input_bytes(docs.inputFiles())
        n_files = cfg.output_files or max(1, math.ceil(input_bytes / (128 << 20)))
        shuffle = cfg.shuffle_partitions or (
            None if spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions")
            else max(2 * spark.sparkContext.defaultParallelism, math.ceil(input_bytes / (32 << 20))))
        previous = spark.conf.get("spark.sql.shuffle.partitions")
        if shuffle:  # Spark's default of 200 tiny tasks per shuffle costs 7x the work on a laptop
            spark.conf.set("spark.sql.shuffle.partitions", str(shuffle))
        try:
            return with_skipped(self._dedup(spark, cfg, bands, rows, docs, n_files, tmp_output), skipped)
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", previous)

    def _dedup(self, spark, cfg: DedupConfig, bands: int, rows: int, docs, n_files: int, tmp_output: str) -> Stats:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        first_keys = docs.select("id", "text").mapInArrow(
            lambda it: document_keys(it, cfg, bands, rows), KEYS_SCHEMA
        ).persist()
        _describe(spark, "signatures, band and line keys")
        first_keys.count()  # materialise the cache here, so its cost is not folded into the first round's
        keys = first_keys.drop("signature")  # read again only to verify candidates
        exact = Window.partitionBy("exact_hi", "exact_lo")
        if cfg.exact:
            keys = keys.withColumn("rep", F.min("id").over(exact))
        else:
            keys = keys.withColumn("rep", F.col("id"))
        reps = keys.where("id = rep")
        counters = {}
        if cfg.near:
            bucket = Window.partitionBy("key")
            members = (reps.select("id", F.explode(F.array_distinct("band_keys")).alias("key"))
                       .withColumn("bucket_n", F.count("*").over(bucket)).where("bucket_n > 1").persist())
            signatures = first_keys.select("id", "signature")
            groups = verified_groups(members, signatures, cfg, counters)
            edges = groups.selectExpr("id AS src", "rep AS dst").distinct()
            labels, counters["cc_iterations"] = connected_components(edges, cfg.max_cc_iterations)
            # A representative's verified group of size g gives g - 1 shared buckets to each of its members.
            sizes = groups.groupBy("key", "rep").agg(F.count("*").alias("n"))
            shared = (groups.join(sizes, ["key", "rep"]).select("id", "n")
                      .unionByName(sizes.select(F.col("rep").alias("id"), "n"))
                      .groupBy("id").agg(F.sum("n").alias("shared")))
            keepers = (labels.join(shared.withColumnRenamed("id", "node"), "node").groupBy("label")
                       .agg(F.min(keeper_rank_column(F.col("shared"), F.col("node"))).alias("best"))
                       .select("label", F.col("best.id").alias("keeper")))
            keys = (keys.join(labels.withColumnRenamed("node", "rep"), "rep", "left").join(keepers, "label", "left")
                    .withColumn("dup_cluster", F.coalesce("keeper", "rep")))
        else:
            keys = keys.withColumn("dup_cluster", F.col("rep"))
        keys = keys.withColumn("dup_cluster_size", F.count("*").over(Window.partitionBy("dup_cluster")))
        keys = keys.withColumn("status", F.when(F.col("id") == F.col("dup_cluster"), KEEP)
                               .when(F.col("id") != F.col("rep"), EXACT).otherwise(NEAR)).persist()

        verdicts = keys.select("id", "dup_cluster", "dup_cluster_size", "status")
        if cfg.lines:
            lines = keys.where(f"status = {KEEP}").select(
                "id", F.explode(F.arrays_zip("line_idx", "line_keys")).alias("l")
            ).select("id", F.col("l.line_idx").alias("line"), F.col("l.line_keys").alias("key"))
            by_key = Window.partitionBy("key")
            frequent = lines.withColumn("n", F.count("*").over(by_key)).where(f"n > {cfg.line_max_occurrences}")
            removed = (frequent.withColumn("rank", F.row_number().over(by_key.orderBy("id", "line")))
                       .where(f"rank > {cfg.line_max_occurrences}")
                       .groupBy("id").agg(F.sort_array(F.collect_list("line")).alias("remove_lines")))
            verdicts = verdicts.join(removed, "id", "left")
        else:
            verdicts = verdicts.withColumn("remove_lines", F.lit(None).cast("array<int>"))

        joined = docs.repartition(n_files, "id").join(verdicts.repartition(n_files, "id"), "id")
        joined = joined.select(*docs.columns, "dup_cluster", "dup_cluster_size", "status", "remove_lines")
        columns = [*docs.columns, "dup_cluster", "dup_cluster_size"]
        out_schema = StructType([*docs.schema.fields, StructField("dup_cluster", StringType()),
                                 StructField("dup_cluster_size", LongType())])
        out = joined.sortWithinPartitions("id").mapInArrow(
            lambda it: apply_verdicts(it, columns, tmp_output), out_schema
        )
        _describe(spark, "keepers, line dedup, join with documents and write")
        out.write.mode("errorifexists").parquet(tmp_output)
        spark.sparkContext.setJobDescription(None)
        if cfg.near:
            members.unpersist()
        keys.unpersist()
        first_keys.unpersist()
        stats = merge_task_stats(tmp_output, self.name)
        rename_parts(tmp_output)
        for key, value in counters.items():
            stats.count(key, value)
        return stats


def _input_bytes(input_files: list[str]) -> int:
    """The input's size: output file count derives from it alone, so any cluster layout writes the same files."""
    total = 0
    for url in input_files:
        fs, path = filesystem(url)
        total += fs.size(path)
    return total


def main(argv: list[str] | None = None) -> int:
    return DedupJob().main(argv)


if __name__ == "__main__":
    sys.exit(main())
