"""What every Spark stage shares: the session, verified input, atomic output, per-task stats, shipped archives.

The stage objects (jobs/stage.py) wire pipeline/ functions into DataFrame operations with these; they never
decide anything about a document themselves.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import uuid
from pathlib import Path

from pipeline.config import ConfigError
from pipeline.stats import STATS_FILE, Stats

log = logging.getLogger("sluice.jobs")

SUCCESS_FILE = "_SUCCESS"
TASK_STATS_DIR = "_task_stats"


def spark_session(app_name: str, master: str | None = None):
    """A session on the master spark-submit gave us, else local[*] (so `python jobs/x.py` works too)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif not _launcher_sets_master():
        builder = builder.master("local[*]")
    builder = (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        # Spark's progress bar on a terminal only: in CI and log files its carriage-return redraws are noise
        .config("spark.ui.showConsoleProgress", "true" if _stderr_is_terminal() else "false")
        .config("spark.sql.parquet.compression.codec", "zstd")
        # a CRC-32 per page, written (parquet-mr's default, asked for here) and checked whenever Spark reads a page
        .config("spark.hadoop.parquet.page.write-checksum.enabled", "true")
        .config("spark.hadoop.parquet.page.verify-checksum.enabled", "true")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


# What executors need: document processing, models and the stage jobs. demo/ and trainer/ stay on the driver.
EXECUTOR_PACKAGES = ("pipeline", "classifiers", "jobs")


def write_pyfiles_zip(archive: str | Path) -> Path:
    """The zip `--py-files` takes (`make pyfiles` writes dist/sluice-pyfiles.zip with it)."""
    import zipfile

    root = Path(__file__).resolve().parent.parent
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for package in EXECUTOR_PACKAGES:
            for path in sorted((root / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    z.write(path, path.relative_to(root).as_posix())
    return archive


def ship_packages(spark) -> None:
    """On a cluster, send our packages to the executors as a zip (what `--py-files` does for spark-submit).

    Skipped on local masters, where executors share the driver's file system and sys.path."""
    import tempfile

    if spark.sparkContext.master.startswith("local"):
        return
    archive = write_pyfiles_zip(Path(tempfile.mkdtemp(prefix="sluice-pyfiles-")) / "sluice.zip")
    spark.sparkContext.addPyFile(str(archive))


def _launcher_sets_master() -> bool:
    """Whether spark-submit chose the master: it always does (local[*] when not told), and its JVM, started before
    this process, holds it. (Reading SparkConf() here would not show it: before the first session the Python
    side has no JVM to ask and returns nothing, which used to send `spark-submit --master ...` runs to local[*].)
    A plain `python` driver can also name one in PYSPARK_SUBMIT_ARGS."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "").split()


def filesystem(url: str):
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def content_digest(url: str) -> str:
    """A short hash of a file, or of every file under a directory (names and bytes): what a stage's output depends on
    when that input is a model set or a tokenizer."""
    import hashlib

    fs, path = filesystem(url)
    digest = hashlib.sha256()
    for name in sorted(fs.find(path)) if fs.isdir(path) else [path]:
        with fs.open(name, "rb") as f:
            digest.update(name.rsplit("/", 1)[-1].encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def read_verified_parquet(spark, inputs: list[str], config, stage: str):
    """(DataFrame of the input Parquet files, Stats of the files left out) after checking every page of every file.

    The check (pipeline.integrity.check_file) runs in Spark tasks, one per file, before the stage reads its input:
    Spark's own reader also verifies page CRCs, but a failure there is a task error deep in a Java stack, and its
    only skip (spark.sql.files.ignoreCorruptFiles) drops the rest of a file silently. Here a damaged file stops
    the stage with one line naming it (UserError), or, with integrity.fail_on_corrupt_input = false, is left out
    with its rows counted as dropped. It reads the input once more; see benchmarks/results/shard_verify.json."""
    from pipeline.integrity import CorruptInputError, check_file, parquet_files, summarize

    try:
        files = parquet_files(inputs)
        checks = spark.sparkContext.parallelize(files, numSlices=len(files)).map(check_file).collect()
        good, skipped = summarize(checks, config, stage)
    except (ConfigError, CorruptInputError) as e:
        raise UserError(str(e)) from None
    return spark.read.parquet(*good), skipped


def input_bytes(input_files: list[str]) -> int:
    """The input's size: output file count derives from it alone, so any cluster layout writes the same files."""
    total = 0
    for url in input_files:
        fs, path = filesystem(url)
        total += fs.size(path)
    return total


@contextlib.contextmanager
def shuffle_sized_for(spark, configured: int, n_bytes: int):
    """spark.sql.shuffle.partitions for a stage over `n_bytes` of input, restored afterwards: `configured` when set,
    else what the user gave Spark, else 2 per core and one per 32 MB (Spark's default of 200 tiny tasks per
    shuffle costs a laptop 7x the work)."""
    shuffle = configured or (
        None if spark.sparkContext.getConf().contains("spark.sql.shuffle.partitions")
        else max(2 * spark.sparkContext.defaultParallelism, math.ceil(n_bytes / (32 << 20))))
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    if shuffle:
        spark.conf.set("spark.sql.shuffle.partitions", str(shuffle))
    try:
        yield
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)


@contextlib.contextmanager
def sized_for_input(spark, frame, output_files: int, shuffle_partitions: int):
    """The number of output files for a stage that rewrites `frame` (`output_files` when set, else one per 128 MB of
    input), with the shuffle sized for the input meanwhile (shuffle_sized_for)."""
    n_bytes = input_bytes(frame.inputFiles())
    with shuffle_sized_for(spark, shuffle_partitions, n_bytes):
        yield output_files or max(1, math.ceil(n_bytes / (128 << 20)))


def with_skipped(stats: Stats, skipped: Stats) -> Stats:
    """`stats` plus the input files read_verified_parquet left out (in place; unlike `+`, keeps zero counters)."""
    stats.records_in += skipped.records_in
    stats.dropped.update(skipped.dropped)
    stats.counters.update(skipped.counters)
    stats.failed_inputs = sorted(set(stats.failed_inputs) | set(skipped.failed_inputs))
    return stats


def output_is_complete(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(f"{path}/{SUCCESS_FILE}") and fs.exists(f"{path}/{STATS_FILE}")


def write_task_stats(tmp_output: str, partition: int, stats: Stats) -> None:
    """One JSON per task, named by partition: a retried task overwrites its own file, so nothing counts twice."""
    fs, path = filesystem(tmp_output)
    fs.makedirs(f"{path}/{TASK_STATS_DIR}", exist_ok=True)
    with fs.open(f"{path}/{TASK_STATS_DIR}/{partition:05d}.json", "w") as f:
        f.write(stats.to_json())


def merge_task_stats(tmp_output: str, stage: str) -> Stats:
    fs, path = filesystem(tmp_output)
    parts = []
    if fs.exists(f"{path}/{TASK_STATS_DIR}"):
        for name in sorted(fs.ls(f"{path}/{TASK_STATS_DIR}", detail=False)):
            with fs.open(name, "r") as f:
                parts.append(Stats.from_dict(json.load(f)))
        fs.rm(f"{path}/{TASK_STATS_DIR}", recursive=True)
    return Stats.merge(parts, stage=stage)


def write_partitions(frame, tmp_output: str, batches_fn, spark_schema) -> None:
    """Write every partition of `frame`, passed through `batches_fn` (a mapInArrow function yielding record batches
    of `spark_schema`), as TMP_OUTPUT/part-NNNNN.parquet with pyarrow inside its task: zstd, page checksums, one
    file per partition even when it is empty. Spark's own writer lists column encodings in JVM hash-set order, so
    its files differ in bytes from one JVM to the next; these depend on the rows alone. A retried task rewrites
    its file whole."""
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(spark_schema)

    def write(batches):
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        partition = TaskContext.get().partitionId()
        fs, path = filesystem(tmp_output)
        rows = 0
        with fs.open(f"{path}/part-{partition:05d}.parquet", "wb") as f, pq.ParquetWriter(
                f, schema, compression="zstd", write_page_checksum=True) as writer:
            for batch in batches_fn(batches):
                if batch.num_rows:
                    writer.write_table(pa.Table.from_batches([batch]).select(schema.names).cast(schema))
                    rows += batch.num_rows
        yield pa.RecordBatch.from_arrays([pa.array([partition], pa.int32()), pa.array([rows], pa.int64())],
                                         names=["partition", "rows"])

    fs, path = filesystem(tmp_output)
    fs.makedirs(path, exist_ok=True)
    frame.mapInArrow(write, "partition int, rows long").collect()


def commit_output(tmp_output: str, output: str, stats: Stats, extra_files: dict[str, str] | None = None) -> None:
    """Stats and _SUCCESS are written last, then the directory is renamed into place: a killed run
    leaves only a `.tmp-*` directory, never an output that looks complete."""
    fs, tmp = filesystem(tmp_output)
    _, final = filesystem(output)
    for name, content in (extra_files or {}).items():
        with fs.open(f"{tmp}/{name}", "w") as f:
            f.write(content)
    with fs.open(f"{tmp}/{STATS_FILE}", "w") as f:
        f.write(stats.to_json())
    fs.touch(f"{tmp}/{SUCCESS_FILE}")
    if fs.exists(final):
        fs.rm(final, recursive=True)
    fs.mv(tmp, final, recursive=True)


def temp_output(output: str) -> str:
    return f"{output.rstrip('/')}.tmp-{uuid.uuid4().hex[:8]}"


def remove_stale_temp_outputs(output: str) -> None:
    """A run killed mid-stage leaves `<output>.tmp-*`; nothing else ever reads it, so the next run removes it."""
    fs, path = filesystem(output)
    for stale in fs.glob(f"{path.rstrip('/')}.tmp-*"):
        fs.rm(stale, recursive=True)


class UserError(Exception):
    """Something the user can fix (a path, a config key, a damaged input, a model): one line naming it, exit code 2,
    no traceback. `raise SystemExit("stage: message")` in a job is taken the same way."""


def check_output(url: str) -> None:
    fs, path = filesystem(url)
    if fs.isfile(path):
        raise UserError(f"--output {url}: is a file; give a directory (it is created)")


def directory_archive(directory: str, prefix: str) -> Path:
    """A directory (a models set, or a sentence-transformers model with its subfolders) as one zip named by its
    content, for Spark to ship to the executors and unpack there (it ships no directory to a cluster). A session can
    ship several sets, and re-adding the same name and path is a no-op for Spark, while two sets never collide."""
    import tempfile
    import zipfile

    root = Path(directory)
    archive = Path(tempfile.gettempdir()) / f"{prefix}-{content_digest(directory)}.zip"
    if not archive.exists():
        partial = archive.with_suffix(f".{os.getpid()}.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as z:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    z.write(path, path.relative_to(root).as_posix())
        os.replace(partial, archive)
    return archive
