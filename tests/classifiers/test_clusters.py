import numpy as np
import pytest

from classifiers.clusters import ClusterDomainModel, save_cluster_model, term_index, terms
from classifiers.fasttext_model import ModelError


def test_term_index_matches_spark_hashingtf():
    # values of pyspark.ml.feature.HashingTF(numFeatures=2**14).indexOf(term) on Spark 4.3
    expected = {"a": 8803, "abcd": 9676, "abcde": 11248, "straße": 10504, "physics": 538}
    assert {t: term_index(t, 1 << 14) for t in expected} == expected


def test_terms_lowercase_words_without_stopwords():
    words = terms("The Quantum physics of 3 atoms, and über-Straße!")
    assert words == ["quantum", "physics", "atoms", "über", "straße"]


def _model(tmp_path):
    features = 64
    idf = np.ones(features, dtype=np.float32)
    centroids = np.zeros((2, features), dtype=np.float32)
    centroids[0, term_index("quantum", features)] = 1.0
    centroids[1, term_index("recipe", features)] = 1.0
    path = tmp_path / "domain_clusters_v1.npz"
    save_cluster_model(path, centroids, idf, ["c000_quantum", "c001_recipe"], {"documents": 2})
    return path


def test_nearest_centroid_assignment_round_trip(tmp_path):
    model = ClusterDomainModel.load(_model(tmp_path))
    names, scores = model.predict(["quantum quantum theory", "a recipe for soup", ""])
    assert names[:2] == ["c000_quantum", "c001_recipe"]
    assert scores[0] > 0.5 and scores[2] == 0.0


def test_corrupt_cluster_model_names_the_file(tmp_path):
    path = _model(tmp_path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ModelError, match=r"domain_clusters_v1\.npz: .*corrupt or truncated"):
        ClusterDomainModel.load(path)
    (tmp_path / "domain_clusters_v1.json").unlink()
    with pytest.raises(ModelError, match="card domain_clusters_v1.json"):
        ClusterDomainModel.load(path)
