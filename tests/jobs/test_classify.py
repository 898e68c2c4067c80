import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers.balance import CategoryBalancer
from classifiers.config import BalanceConfig, ClassifyConfig
from classifiers.stage import ModelStage, add_weights
from pipeline.stats import DropReason, Stats
from tests.classifiers.textgen import TOPICS, domain_set, page, spam, train_small_models

pytestmark = pytest.mark.spark

RUN_TOML = """
[classify]
min_quality = 0.5
batch_rows = 7

[classify.balance]
mode = "share"
max_factor = 3.0

[classify.balance.targets]
science = 0.4
"""


def _documents(n: int = 60) -> pa.Table:
    rng = random.Random(11)
    texts = ["\n".join(page(rng, rng.choice(list(TOPICS)))[0]) for _ in range(n)] + [spam(rng) for _ in range(10)]
    n_rows = len(texts)
    # columns after text/n_chars, as the dedup stage writes them: the job must keep every column in its place
    return pa.table({"id": [f"id{i:03d}" for i in range(n_rows)], "url": [f"http://x/{i}" for i in range(n_rows)],
                     "text": texts, "n_chars": [len(t) for t in texts],
                     "dup_cluster": [f"id{i:03d}" for i in range(n_rows)], "dup_cluster_size": [1] * n_rows})


def test_classify_job_equals_plain_python(spark, tmp_path):
    from jobs.classify import ClassifyStage

    models = tmp_path / "models"
    train_small_models(models)
    table = _documents()
    (tmp_path / "docs").mkdir()
    pq.write_table(table.slice(0, 35), tmp_path / "docs" / "part-00000.parquet")
    pq.write_table(table.slice(35), tmp_path / "docs" / "part-00001.parquet")
    (tmp_path / "run.toml").write_text(RUN_TOML)
    out = tmp_path / "classified"
    argv = ["--input", str(tmp_path / "docs"), "--output", str(out), "--models", str(models),
            "--config", str(tmp_path / "run.toml")]
    assert ClassifyStage().main(argv) == 0

    stats = json.loads((out / "_stats.json").read_text())
    result = pq.read_table(out).sort_by("id").to_pylist()
    # the same rows through the same code, no Spark
    config = ClassifyConfig(min_quality=0.5, balance=BalanceConfig(mode="share", max_factor=3.0,
                                                                   targets={"science": 0.4}))
    local_stats = Stats()
    scored = ModelStage(models, config).score_batch(table, local_stats)
    histogram = dict(zip(*np.unique(scored.column("category").to_pylist(), return_counts=True), strict=True))
    expected = add_weights(scored, CategoryBalancer(config.balance, histogram)).sort_by("id").to_pylist()

    assert [r["id"] for r in result] == [r["id"] for r in expected]
    for got, want in zip(result, expected, strict=True):
        assert got["text"] == want["text"] and got["category"] == want["category"]
        assert got["dup_cluster"] == got["id"] and got["n_chars"] == len(got["text"])
        assert got["quality"] == pytest.approx(want["quality"], abs=1e-6)
        assert got["weight"] == pytest.approx(want["weight"], rel=1e-6)
    assert stats["records_in"] == 70 and stats["dropped"] == {DropReason.LOW_QUALITY: 10}
    assert stats["records_out"] == local_stats.records_out == len(expected)
    assert stats["counters"]["clutter_lines_removed"] == local_stats.counters["clutter_lines_removed"]
    assert sorted(p.name for p in out.glob("*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]


def test_unknown_category_in_balance_table_stops_the_job(spark, tmp_path, capsys):
    from jobs.classify import ClassifyStage

    models = tmp_path / "models"
    train_small_models(models)
    pq.write_table(_documents(5), tmp_path / "docs.parquet")
    (tmp_path / "run.toml").write_text('[classify.balance.targets]\nsciense = 2.0\n')
    assert ClassifyStage().main(["--input", str(tmp_path / "docs.parquet"), "--output", str(tmp_path / "out"),
                               "--models", str(models), "--config", str(tmp_path / "run.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown category 'sciense'" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_cluster_domains_spark_and_python_assign_alike(spark, tmp_path):
    from pyspark.ml.feature import HashingTF

    from classifiers.clusters import ClusterDomainModel, save_cluster_model, term_index
    from jobs.cluster_domains import fit_clusters

    hashing = HashingTF(numFeatures=1 << 12)
    assert all(hashing.indexOf(t) == term_index(t, 1 << 12) for t in ["quantum", "straße", "ab", "日本語"])
    texts, _ = domain_set(seed=8, n=150)
    fitted = fit_clusters(spark, spark.createDataFrame([(t,) for t in texts], "text string"),
                          k=4, num_features=1 << 12, algorithm="kmeans", max_iter=10, seed=1)
    save_cluster_model(tmp_path / "domain_clusters_v1.npz", fitted["centroids"], fitted["idf"], fitted["names"],
                       fitted["metrics"])
    model = ClusterDomainModel.load(tmp_path / "domain_clusters_v1.npz")
    names, _ = model.predict(texts)
    python_sizes = [names.count(n) for n in fitted["names"]]
    assert python_sizes == fitted["metrics"]["sizes"]
    assert all(len(n.split("_")) == 4 for n in fitted["names"])  # c000 + three top terms
