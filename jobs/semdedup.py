"""Semantic dedup stage: documents whose embeddings are nearly parallel, within a k-means cluster, are duplicates.

    spark-submit jobs/semdedup.py --input DIR --output DIR --models DIR [--config run.toml]

Plan: (1) one mapInArrow pass embeds every document (classifiers.embedding: fastText SIF vectors or a
sentence-transformers directory) and takes its quality (the input's `quality` column, else the quality model,
else none); unit vectors are stored as float16 in a scratch Parquet beside the output; (2) Spark MLlib KMeans
clusters them, k from the corpus size or set; centers are rounded to float16 before use, so a rerun that sums
k-means' partial results in another order assigns every document the same; (3) a cluster larger than
max_task_vectors is clustered again (up to max_levels), and one still too large is cut into chunks, each pair of
chunks meeting in one task, so no task holds more than max_task_vectors vectors; (4) inside each task, pairs with
cosine >= threshold come from blocked matrix products (pipeline.semdedup.primitives.cosine_pairs), and a pair
counts only if it passes the second check (pipeline.semdedup.pair_check: length ratio and shared rare content
words, from a sketch taken when embedding); (5) connected components of the pairs as in the MinHash stage; each
keeps its highest quality member, ties to the smallest id; the others are dropped as `semantic_duplicate` and
listed in `_semantic_duplicates/` with the kept document, its cosine to it, and the document each was paired with
(and that cosine), so a sample can be audited.
"""

from __future__ import annotations

import math
import sys

from jobs.base import (
    UserError,
    content_digest,
    directory_archive,
    filesystem,
    merge_task_stats,
    sized_for_input,
    with_skipped,
    write_partitions,
    write_task_stats,
)
from jobs.semdedup_audit import audit_rows
from jobs.stage import RunContext, RunError, Settings, Stage, StageArgs
from pipeline.semdedup.primitives import SemDedupConfig
from pipeline.stats import DropReason, Stats

EMBEDDING_SCHEMA = "id string, quality double, vec binary, words binary, n_words int, n_chars int"
ASSIGNED_SCHEMA = "id string, grp string"
PAIR_INPUT = ("id", "grp", "vec", "words", "n_words", "n_chars")
PAIRS_SCHEMA = "src string, dst string, sim float"
_MODELS: dict[tuple, tuple] = {}


def _models(shipped: dict[str, str], cfg: SemDedupConfig, score_quality: bool):
    """(embedding model, quality model or None), loaded once per Python worker from the shipped archives."""
    key = (tuple(sorted(shipped.items())), cfg.model, cfg.quality_model, score_quality)
    if key not in _MODELS:
        from pyspark import SparkFiles

        from classifiers.embedding import load_embedding
        from classifiers.registry import load_model

        models_dir = SparkFiles.get(shipped["models"]) if "models" in shipped else None
        spec = SparkFiles.get(shipped["encoder"]) if "encoder" in shipped else cfg.model
        embedding = load_embedding(spec, models_dir, cfg.max_chars)
        quality = load_model(models_dir, cfg.quality_model, "quality", cfg.max_chars) if score_quality else None
        _MODELS[key] = (embedding, quality)
    return _MODELS[key]


def embed_documents(batches, shipped: dict[str, str], cfg: SemDedupConfig, quality_source: str):
    """mapInArrow: (id, text[, quality]) -> (id, quality, unit vector as float16 bytes, content-word sketch as
    uint32 bytes, distinct content words, characters)."""
    import numpy as np
    import pyarrow as pa

    from pipeline.semdedup.pair_check import sketch
    from pipeline.semdedup.primitives import to_float16_rows

    embedding, quality_model = _models(shipped, cfg, quality_source == "model")
    for batch in batches:
        for start in range(0, batch.num_rows, cfg.batch_rows):
            part = batch.slice(start, cfg.batch_rows)
            texts = [t or "" for t in part.column("text").to_pylist()]
            if quality_source == "column":
                quality = np.nan_to_num(part.column("quality").to_numpy(zero_copy_only=False).astype(np.float64))
            elif quality_source == "model":
                quality = quality_model.predict(texts).astype(np.float64)
            else:
                quality = np.zeros(len(texts))
            sketches = [sketch(t[: cfg.max_chars]) for t in texts]
            yield pa.RecordBatch.from_arrays(
                [part.column("id"), pa.array(quality, pa.float64()),
                 pa.array(to_float16_rows(embedding.embed(texts)), pa.binary()),
                 pa.array([h.astype("<u4").tobytes() for h, _ in sketches], pa.binary()),
                 pa.array([n for _, n in sketches], pa.int32()), pa.array([len(t) for t in texts], pa.int32())],
                names=["id", "quality", "vec", "words", "n_words", "n_chars"])


def assign_groups(batches, tree: dict[str, list]):
    """mapInArrow: (id, vec) -> (id, group path): "3" is cluster 3 of the first level, "3.1" cluster 1 of its
    second-level k-means. Pure numpy on rounded centers, so the same vectors always land in the same group."""
    import numpy as np
    import pyarrow as pa

    from pipeline.semdedup.primitives import assign_clusters, from_float16_rows

    centers = {prefix: np.asarray(c, dtype=np.float32) for prefix, c in tree.items()}
    for batch in batches:
        vectors = from_float16_rows(batch.column("vec").to_pylist())
        paths = np.full(batch.num_rows, "", dtype=object)
        pending = np.ones(batch.num_rows, dtype=bool)
        while pending.any():
            pending[:] = False
            for prefix in sorted(set(paths) & centers.keys()):
                rows = np.flatnonzero(paths == prefix)
                nearest = assign_clusters(vectors[rows], centers[prefix])
                paths[rows] = [f"{prefix}.{c}" if prefix else str(c) for c in nearest]
                pending[rows] = True
        yield pa.RecordBatch.from_arrays([batch.column("id"), pa.array(paths.tolist(), pa.string())],
                                         names=["id", "grp"])


def group_pairs(cfg: SemDedupConfig):
    """applyInArrow over (grp, a, b): the pairs at or above the threshold between chunks a and b of a group that
    pass the second check."""
    check = cfg.pair_check()

    def pairs(table):
        import numpy as np
        import pyarrow as pa

        from pipeline.semdedup.pair_check import passing
        from pipeline.semdedup.primitives import cosine_pairs, from_float16_rows

        table = table.sort_by("id")
        a, b = table.column("a")[0].as_py(), table.column("b")[0].as_py()
        chunk = table.column("chunk").to_numpy()
        ids = np.array(table.column("id").to_pylist(), dtype=object)
        vectors = from_float16_rows(table.column("vec").to_pylist())
        left = np.flatnonzero(chunk == a)
        right = left if a == b else np.flatnonzero(chunk == b)
        found = cosine_pairs(vectors[left], None if a == b else vectors[right], cfg.threshold, cfg.block_rows)
        i, j = left[found[:, 0]], right[found[:, 1]]
        if check.enabled and len(i):
            words, n_words, n_chars = (table.column(c).to_pylist() for c in ("words", "n_words", "n_chars"))
            ok = passing(check, i, j, n_chars, lambda x: (np.frombuffer(words[x], "<u4"), n_words[x]))
            i, j = i[ok], j[ok]
        sims = np.einsum("ij,ij->i", vectors[i], vectors[j]) if len(i) else np.zeros(0)
        src, dst = np.minimum(ids[i], ids[j]) if len(i) else [], np.maximum(ids[i], ids[j]) if len(i) else []
        return pa.table({"src": pa.array(list(src), pa.string()), "dst": pa.array(list(dst), pa.string()),
                         "sim": pa.array(sims, pa.float32())})

    return pairs


def apply_verdicts(batches, columns: list[str], tmp_output: str):
    """mapInArrow: drop the semantic duplicates and count everything; one stats file per task."""
    import pyarrow.compute as pc
    from pyspark import TaskContext

    stats = Stats(stage="semdedup")
    for batch in batches:
        stats.records_in += batch.num_rows
        keep = pc.equal(batch.column("id"), batch.column("sem_dup_cluster"))
        dropped = batch.num_rows - int(pc.sum(keep).as_py() or 0)
        if dropped:
            stats.drop(DropReason.SEMANTIC_DUPLICATE, dropped)
        kept = batch.filter(keep).select(columns)
        stats.records_out += kept.num_rows
        yield kept
    write_task_stats(tmp_output, TaskContext.get().partitionId(), stats)


class SemDedupStage(Stage):
    name = "semdedup"
    directory = "semdeduped"
    description = "Remove documents whose embeddings nearly coincide with another's inside a k-means cluster."
    tables = ("semdedup",)
    switch = "semdedup"  # off by default

    @staticmethod
    def _encoder_dir(run: RunContext) -> str | None:
        """The directory of a packaged or path-given sentence encoder (its files decide the vectors), else None."""
        from pathlib import Path

        from classifiers.embedding import PACKAGED_ENCODERS, packaged_encoder_dir
        from classifiers.fasttext_model import ModelError

        encoder = run.config.semdedup.model
        if encoder in PACKAGED_ENCODERS:
            try:
                return str(packaged_encoder_dir(encoder))
            except ModelError as e:
                raise RunError(f"semdedup: {e}") from None
        return encoder if Path(encoder).is_dir() else None

    def check(self, run: RunContext) -> None:
        encoder = run.config.semdedup.model
        models_fs, models_path = filesystem(run.models)
        if self._encoder_dir(run) is None and not models_fs.isdir(models_path):
            raise RunError(f"semdedup: no models at {run.models} for the embedding model {encoder!r}: pass "
                           "--models DIR (train it with `sluice classifiers train embedding`, see README)")

    def prepare(self, run: RunContext, previous: str) -> tuple[dict, str]:
        self.check(run)
        encoder_dir = self._encoder_dir(run)
        models_fs, models_path = filesystem(run.models)
        has_models = models_fs.isdir(models_path)
        given = {"models": run.models} if has_models else {}
        if encoder_dir:
            return given, content_digest(encoder_dir) + (content_digest(run.models) if has_models else "")
        return given, content_digest(run.models)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--models", default=None, help="models directory holding the embedding model "
                            "(and quality_v1 when the input has no quality column)")

    def check_inputs(self, settings: Settings, args: StageArgs) -> None:
        """Besides the input files: the embedding model loads, before Spark starts (one line naming the file)."""
        from classifiers.embedding import load_embedding
        from classifiers.fasttext_model import ModelError

        super().check_inputs(settings, args)
        cfg = settings.semdedup
        try:
            load_embedding(cfg.model, args.models, cfg.max_chars)
        except ModelError as e:
            raise UserError(str(e)) from None

    def run(self, spark, settings: Settings, args: StageArgs, tmp_output: str) -> Stats:
        cfg = settings.semdedup
        docs, skipped = self.read_input(spark, settings, args)
        shipped, quality_source = self._ship_models(spark, args, cfg, "quality" in docs.columns)
        scratch = f"{tmp_output}-embeddings"  # beside the output, never in it; `.tmp-*` cleanup covers a killed run
        try:
            with sized_for_input(spark, docs, cfg.output_files, cfg.shuffle_partitions) as n_files:
                stats = self._semdedup(spark, cfg, docs, shipped, quality_source, n_files, scratch, tmp_output)
            return with_skipped(stats, skipped)
        finally:
            fs, path = filesystem(scratch)
            if fs.exists(path):
                fs.rm(path, recursive=True)

    def _ship_models(self, spark, args, cfg: SemDedupConfig, has_quality: bool) -> tuple[dict[str, str], str]:
        """Check the models on the driver (one clear error), then ship them to the executors as archives; returns
        the archive names ("models": the models directory, "encoder": a sentence-transformers directory)."""
        from pathlib import Path

        from classifiers.embedding import load_embedding
        from classifiers.fasttext_model import ModelError
        from classifiers.registry import model_path

        try:
            load_embedding(cfg.model, args.models, cfg.max_chars)
            quality_source = "column" if has_quality else "none"
            if quality_source == "none" and cfg.quality_model and args.models \
                    and model_path(args.models, cfg.quality_model).is_file():
                quality_source = "model"
        except ModelError as e:
            raise SystemExit(f"semdedup: {e}") from None
        from classifiers.embedding import PACKAGED_ENCODERS

        shipped = {}  # a packaged encoder is not shipped: the executors load it from the same installed package
        from_models = cfg.model not in PACKAGED_ENCODERS and not Path(cfg.model).is_dir()
        for role, directory in (("encoder", cfg.model if Path(cfg.model).is_dir() else None),
                                ("models", args.models if quality_source == "model" or from_models else None)):
            if directory:
                archive = directory_archive(str(Path(directory).resolve()), "sluice-semdedup")
                spark.sparkContext.addArchive(str(archive))  # unpacked on every executor, found by SparkFiles
                shipped[role] = archive.name
        return shipped, quality_source

    def _semdedup(self, spark, cfg, docs, shipped, quality_source, n_files, scratch, tmp_output) -> Stats:
        import pyarrow.parquet as pq
        from pyspark import StorageLevel
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from jobs.dedup_clusters import connected_components

        columns = ["id", "text"] + (["quality"] if quality_source == "column" else [])
        docs.select(*columns).mapInArrow(
            lambda it: embed_documents(it, shipped, cfg, quality_source), EMBEDDING_SCHEMA
        ).write.parquet(scratch)
        embedded = spark.read.parquet(scratch)
        n_docs = embedded.count()
        tree, counters = self._cluster(spark, cfg, embedded, n_docs)
        assigned = embedded.select("id", "vec").mapInArrow(lambda it: assign_groups(it, tree), ASSIGNED_SCHEMA)
        assigned = assigned.join(embedded, "id").persist(StorageLevel.MEMORY_AND_DISK)
        sizes = {r["grp"]: r["count"] for r in assigned.groupBy("grp").count().collect()}
        chunk_size = cfg.max_task_vectors // 2
        n_chunks = {g: math.ceil(n / chunk_size) for g, n in sizes.items() if n > cfg.max_task_vectors}
        counters.update({"groups": len(sizes), "largest_group": max(sizes.values(), default=0),
                         "groups_cut_into_chunks": len(n_chunks)})
        if n_chunks:  # rank within the group by id: chunks of exactly chunk_size, the same on every run
            chunks_of = F.create_map(*[x for g, m in sorted(n_chunks.items()) for x in (F.lit(g), F.lit(m))])
            ranked = assigned.withColumn("m", F.coalesce(chunks_of[F.col("grp")], F.lit(1)).cast("int")).withColumn(
                "chunk", F.when(F.col("m") > 1, F.floor(
                    (F.row_number().over(Window.partitionBy("grp").orderBy("id")) - 1) / chunk_size)).otherwise(0)
                .cast("int"))
            # the chunk-pair tasks (a, b), a <= b, that need a row of chunk c: (x, c) for x < c, (c, x) for x >= c
            tasks = F.expr("concat(filter(transform(sequence(0, chunk), x -> named_struct('a', x, 'b', chunk)), "
                           "t -> t.a < chunk), "
                           "transform(sequence(chunk, m - 1), x -> named_struct('a', chunk, 'b', x)))")
            placed = ranked.select(*PAIR_INPUT, "chunk", F.explode(tasks).alias("t")).select(
                *PAIR_INPUT, "chunk", "t.a", "t.b")
        else:
            placed = assigned.select(*PAIR_INPUT, F.lit(0).alias("chunk"), F.lit(0).alias("a"), F.lit(0).alias("b"))
        edges = placed.groupBy("grp", "a", "b").applyInArrow(group_pairs(cfg), PAIRS_SCHEMA)
        edges = edges.groupBy("src", "dst").agg(F.max("sim").alias("sim")).persist(StorageLevel.MEMORY_AND_DISK)
        counters["similar_pairs"] = edges.count()
        labels, counters["cc_iterations"] = connected_components(edges, cfg.max_cc_iterations)
        quality = assigned.select(F.col("id").alias("node"), "quality")
        keepers = (labels.join(quality, "node").groupBy("label")
                   .agg(F.min(F.struct(-F.col("quality"), F.col("node"))).alias("best"))
                   .select("label", F.col("best.node").alias("keeper")))
        verdicts = (assigned.select("id", F.col("grp").alias("sem_cluster"))
                    .join(labels.withColumnRenamed("node", "id"), "id", "left").join(keepers, "label", "left")
                    .select("id", "sem_cluster", F.coalesce("keeper", "id").alias("sem_dup_cluster")))
        verdicts = verdicts.withColumn("sem_dup_cluster_size",
                                       F.count("*").over(Window.partitionBy("sem_dup_cluster"))).persist()

        joined = docs.repartition(n_files, "id").join(verdicts.repartition(n_files, "id"), "id")
        out_columns = [*docs.columns, "sem_cluster", "sem_dup_cluster", "sem_dup_cluster_size"]
        selected = joined.select(*out_columns)
        write_partitions(selected.sortWithinPartitions("id"), tmp_output,
                         lambda it: apply_verdicts(it, out_columns, tmp_output), selected.schema)
        fs, path = filesystem(tmp_output)
        dropped = audit_rows(verdicts.where("id != sem_dup_cluster"), edges, assigned).orderBy("id").toArrow()
        fs.makedirs(f"{path}/_semantic_duplicates", exist_ok=True)
        with fs.open(f"{path}/_semantic_duplicates/part-00000.parquet", "wb") as f:
            pq.write_table(dropped, f, compression="zstd")
        for frame in (verdicts, edges, assigned):
            frame.unpersist()
        stats = merge_task_stats(tmp_output, self.name)
        stats.count("documents_embedded", n_docs)
        for key, value in counters.items():
            stats.count(key, value)
        return stats

    def _cluster(self, spark, cfg: SemDedupConfig, embedded, n_docs: int) -> tuple[dict[str, list], dict]:
        """k-means centers by group path ("" = first level): a group over max_task_vectors gets its own k-means."""
        tree = {"": self._kmeans(embedded, cfg.clusters_for(n_docs), cfg)} if n_docs else {}
        counters = {"kmeans_k": len(tree.get("", []))}
        for level in range(1, cfg.max_levels):
            assigned = embedded.select("id", "vec").mapInArrow(lambda it: assign_groups(it, tree), ASSIGNED_SCHEMA)
            sizes = {r["grp"]: r["count"] for r in assigned.groupBy("grp").count().collect()}
            oversized = sorted(g for g, n in sizes.items() if n > cfg.max_task_vectors)
            for grp in oversized:
                members = assigned.where(assigned.grp == grp).select("id").join(embedded, "id")
                k = math.ceil(sizes[grp] / (cfg.max_task_vectors // 2))
                tree[grp] = self._kmeans(members, k, cfg)
            counters[f"split_level_{level}"] = len(oversized)
            if not oversized:
                break
        return {prefix: c.tolist() for prefix, c in tree.items()}, counters

    @staticmethod
    def _kmeans(frame, k: int, cfg: SemDedupConfig):
        import numpy as np
        from pyspark.ml.clustering import KMeans
        from pyspark.ml.functions import array_to_vector

        from pipeline.semdedup.primitives import round_centers

        def decode(batches):
            import pyarrow as pa

            from pipeline.semdedup.primitives import from_float16_rows

            for batch in batches:
                vectors = from_float16_rows(batch.column("vec").to_pylist())
                yield pa.RecordBatch.from_arrays([pa.array(vectors.tolist(), pa.list_(pa.float32()))],
                                                 names=["v"])

        if k < 2:  # MLlib wants k >= 2; one cluster needs no fitting, any single center puts everything in it
            dim = len(frame.select("vec").first()["vec"]) // 2
            return np.eye(1, dim, dtype=np.float32)
        features = frame.select("vec").mapInArrow(decode, "v array<float>").select(
            array_to_vector("v").alias("features")).persist()
        try:
            model = KMeans(k=k, seed=cfg.seed, maxIter=cfg.max_iter, featuresCol="features").fit(features)
        finally:
            features.unpersist()
        return round_centers(np.array(model.clusterCenters()))


if __name__ == "__main__":
    sys.exit(SemDedupStage().main())
