import pytest

from tests.classifiers.textgen import train_small_models


@pytest.fixture(scope="session")
def small_models(tmp_path_factory):
    """(models dir, training metrics) of small quality/domain/clutter models trained once per test run."""
    models_dir = tmp_path_factory.mktemp("models")
    return models_dir, train_small_models(models_dir)
