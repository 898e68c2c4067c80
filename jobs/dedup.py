"""Dedup stage: exact copies, MinHash-LSH near duplicates (connected components) and dots.llm1 line dedup.

    spark-submit jobs/dedup.py --input DIR --output DIR [--config run.toml]

Plan: (1) one mapInArrow pass computes, per document, a fingerprint of its normalised text, its LSH band keys,
its MinHash signature (kept apart, read only to verify candidates) and the keys of its first/last lines;
(2) exact groups by fingerprint, each represented by its smallest id; (3) representatives sharing a band key are
candidates, checked against each bucket's representative(s) by the share of equal signature slots, in rounds, and
clustered by connected components of the verified edges; each cluster keeps the member that shares the most
verified buckets, ties to the smallest id (an exact group keeps its smallest id), so the kept set depends on the
data alone, never on partitioning. pipeline/dedup/clusters.py decides all of (3); jobs/dedup_clusters.py moves
the rows for it (signatures meet the candidate pairs in two joins, never on the driver); (4) lines seen more than
line_max_occurrences times keep their first occurrences in (document id, line) order; (5) documents are joined
with their verdicts, hash-partitioned and sorted by id, and written.
"""

from __future__ import annotations

import sys

from jobs.base import (
    merge_task_stats,
    sized_for_input,
    with_skipped,
    write_partitions,
    write_task_stats,
)
from jobs.dedup_clusters import (
    connected_components,
    describe_phase,
    near_duplicate_keepers,
    verified_groups,
)
from jobs.stage import Settings, Stage, StageArgs
from pipeline.dedup.primitives import DedupConfig
from pipeline.stats import DropReason, Stats

KEEP, EXACT, NEAR = 0, 1, 2
_REASONS = {EXACT: DropReason.EXACT_DUPLICATE, NEAR: DropReason.MINHASH_DUPLICATE}
KEYS_SCHEMA = ("id string, exact_hi long, exact_lo long, band_keys array<long>, signature binary, "
               "line_idx array<int>, line_keys array<long>")


def document_keys(batches, cfg: DedupConfig, bands: int, rows: int):
    """mapInArrow: (id, text) batches -> fingerprint, band keys, signature and line keys per document."""
    import numpy as np
    import pyarrow as pa

    from pipeline.dedup.clusters import binary_rows
    from pipeline.dedup.lsh import band_hashes
    from pipeline.dedup.minhash import MinHasher
    from pipeline.dedup.primitives import batch_line_keys, text_fingerprints

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
                 binary_rows(signatures), pa.array(line_idx, pa.list_(pa.int32())),
                 pa.array(line_keys, pa.list_(pa.int64()))],
                names=["id", "exact_hi", "exact_lo", "band_keys", "signature", "line_idx", "line_keys"],
            )


def apply_verdicts(batches, columns: list[str], tmp_output: str, audit=None):
    """mapInArrow: drop duplicates, remove repeated lines, count everything; one stats file per task, and the first
    dropped documents of each reason in _dropped/ (rule: the id of the document kept instead; value: cluster size)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark import TaskContext

    from pipeline.audit import DroppedSample
    from pipeline.dedup.primitives import remove_lines

    stats, dropped = Stats(stage="dedup"), DroppedSample(audit)
    for batch in batches:
        stats.records_in += batch.num_rows
        status = batch.column("status").to_numpy(zero_copy_only=False)
        for code, reason in _REASONS.items():
            stats.drop(reason, int((status == code).sum()))
        if audit is not None and audit.keep_dropped and (status != KEEP).any():
            names = ["id", "url", "text", "dup_cluster", "dup_cluster_size"]
            rows = batch.filter(pa.array(status != KEEP)).select([c for c in names if c in batch.schema.names])
            for row, code in zip(rows.to_pylist(), status[status != KEEP], strict=True):
                dropped.add(_REASONS[int(code)], f"{_REASONS[int(code)]}:of {row['dup_cluster']}", row["id"],
                            row.get("url") or "", row["text"] or "", row["dup_cluster_size"])
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
    dropped.write(tmp_output, TaskContext.get().partitionId())


class DedupStage(Stage):
    name = "dedup"
    directory = "deduped"
    description = "Remove exact, MinHash-LSH near-duplicate documents and repeated boundary lines."
    tables = ("dedup", "audit")

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:

        cfg = settings.dedup
        bands, rows = cfg.lsh_params()
        if cfg.near:
            from pipeline.dedup.lsh import s_curve_midpoint

            print(f"dedup: MinHash LSH {bands} bands x {rows} rows of {cfg.num_perm} hashes: S-curve midpoint "
                  f"{s_curve_midpoint(bands, rows):.3f} (threshold {cfg.threshold}, verify "
                  f"{'on' if cfg.verify else 'off'})")
        docs, skipped = self.read_input(spark, settings, args)
        with sized_for_input(spark, docs, cfg.output_files, cfg.shuffle_partitions) as n_files:
            stats = self._dedup(spark, cfg, settings.audit, bands, rows, docs, n_files, tmp_output)
        return with_skipped(stats, skipped)

    def _dedup(self, spark, cfg: DedupConfig, audit, bands: int, rows: int, docs, n_files: int,
               tmp_output: str) -> Stats:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        from pipeline.audit import merge_dropped

        first_keys = docs.select("id", "text").mapInArrow(
            lambda it: document_keys(it, cfg, bands, rows), KEYS_SCHEMA
        ).persist()
        describe_phase(spark, "signatures, band and line keys")
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
            keepers = near_duplicate_keepers(groups, labels)
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
        describe_phase(spark, "keepers, line dedup, join with documents and write")
        write_partitions(joined.sortWithinPartitions("id"), tmp_output,
                         lambda it: apply_verdicts(it, columns, tmp_output, audit), out_schema)
        spark.sparkContext.setJobDescription(None)
        if cfg.near:
            members.unpersist()
        keys.unpersist()
        first_keys.unpersist()
        stats = merge_task_stats(tmp_output, self.name)
        merge_dropped(tmp_output, audit)
        for key, value in counters.items():
            stats.count(key, value)
        return stats


if __name__ == "__main__":
    sys.exit(DedupStage().main())
