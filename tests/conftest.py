import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared/data is not beside this checkout")
    return path


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (starting one costs ~10 s)."""
    pytest.importorskip("pyspark")
    from jobs.base import spark_session

    session = spark_session("sluice-tests", "local[2]")
    yield session
    session.stop()
