"""sluice classifiers cluster-domains --input DOCS --output MODELS_DIR [--k 200] [--max-docs N]

Categories without labels: on a sample of documents, Spark MLlib fits HashingTF → IDF → Normalizer →
KMeans (or BisectingKMeans); each cluster is named by the terms most typical of it (share of its
documents containing the term × the term's IDF). The result is `domain_clusters_v1.npz` + `.json` in
MODELS_DIR, which `classifiers.clusters.ClusterDomainModel` applies to any document without Spark.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("sluice.jobs")
MODEL_NAME = "domain_clusters_v1"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluice classifiers cluster-domains", description=__doc__.split("\n\n")[1])
    p.add_argument("--input", required=True, nargs="+", help="document Parquet path(s) or glob(s)")
    p.add_argument("--output", required=True, help="models directory to write domain_clusters_v1.npz into")
    p.add_argument("--k", type=int, default=200, help="number of clusters (default 200)")
    p.add_argument("--max-docs", type=int, default=100_000, help="documents sampled for fitting")
    p.add_argument("--num-features", type=int, default=1 << 14, help="hashed term dimensions")
    p.add_argument("--algorithm", choices=("kmeans", "bisecting"), default="kmeans")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--master", default=None)
    return p


def fit_clusters(spark, frame, k: int, num_features: int, algorithm: str, max_iter: int, seed: int) -> dict:
    """Fit on a DataFrame with a `text` column; returns centroids, idf, names and metrics."""
    import numpy as np
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import BisectingKMeans, KMeans
    from pyspark.ml.feature import IDF, HashingTF, Normalizer
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    def to_terms(batches):
        import pyarrow as pa

        from classifiers.clusters import terms

        for batch in batches:
            column = [terms(t or "") for t in batch.column("text").to_pylist()]
            yield pa.RecordBatch.from_arrays([pa.array(column, pa.list_(pa.string()))], names=["terms"])

    docs = frame.select("text").mapInArrow(to_terms, "terms array<string>").persist()
    n_docs = docs.count()
    if n_docs < k:
        raise SystemExit(f"cluster-domains: {n_docs} documents cannot make {k} clusters; lower --k")
    estimator = (KMeans(k=k, seed=seed, maxIter=max_iter) if algorithm == "kmeans"
                 else BisectingKMeans(k=k, seed=seed, maxIter=max_iter))
    stages = [HashingTF(inputCol="terms", outputCol="tf", numFeatures=num_features),
              IDF(inputCol="tf", outputCol="tfidf"), Normalizer(inputCol="tfidf", outputCol="features", p=2.0),
              estimator.setFeaturesCol("features").setPredictionCol("cluster")]
    model = Pipeline(stages=stages).fit(docs)
    idf = model.stages[1].idf.toArray()
    centroids = np.array(model.stages[3].clusterCenters())

    assigned = model.transform(docs).select("cluster", F.array_distinct("terms").alias("terms"))
    assigned = assigned.withColumn("cluster_size", F.count("*").over(Window.partitionBy("cluster")))
    term_doc = assigned.select("cluster", "cluster_size", F.explode("terms").alias("term"))
    doc_freq = term_doc.groupBy("term").agg(F.count("*").alias("df"))
    scored = (term_doc.groupBy("cluster", "cluster_size", "term").agg(F.count("*").alias("n"))
              .join(doc_freq, "term")
              .withColumn("score", F.col("n") / F.col("cluster_size") * F.log((n_docs + 1) / (F.col("df") + 1))))
    ranked = scored.withColumn("rank", F.row_number().over(
        Window.partitionBy("cluster").orderBy(F.desc("score"), F.asc("term"))))
    top: dict[int, list[str]] = {}
    for row in ranked.where("rank <= 3").orderBy("cluster", "rank").collect():
        top.setdefault(row["cluster"], []).append(row["term"])
    sizes = {r["cluster"]: r["count"] for r in assigned.groupBy("cluster").count().collect()}
    docs.unpersist()
    names = ["_".join([f"c{i:03d}", *top.get(i, [])]) for i in range(len(centroids))]
    metrics = {"documents": n_docs, "clusters": len(centroids), "algorithm": algorithm,
               "sizes": [int(sizes.get(i, 0)) for i in range(len(centroids))]}
    return {"centroids": centroids, "idf": idf, "names": names, "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    from classifiers.clusters import save_cluster_model
    from jobs.base import spark_session

    spark = spark_session("sluice-cluster-domains", args.master)
    frame = spark.read.parquet(*args.input)
    total = frame.count()
    if total > args.max_docs:
        frame = frame.sample(fraction=min(1.0, 1.2 * args.max_docs / total), seed=args.seed).limit(args.max_docs)
    fitted = fit_clusters(spark, frame, args.k, args.num_features, args.algorithm, args.max_iter, args.seed)
    path = Path(args.output) / f"{MODEL_NAME}.npz"
    save_cluster_model(path, fitted["centroids"], fitted["idf"], fitted["names"], fitted["metrics"])
    print(f"cluster-domains: {fitted['metrics']['clusters']} clusters from {fitted['metrics']['documents']} "
          f"documents → {path}")
    for name, size in sorted(zip(fitted["names"], fitted["metrics"]["sizes"], strict=True), key=lambda x: -x[1])[:10]:
        print(f"  {size:>7}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
