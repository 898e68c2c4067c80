"""Bit rot in the Parquet files a stage reads: found, named, and stopped on or skipped and counted.

Every Parquet file the pipeline writes carries a CRC-32 per page (pyarrow `write_page_checksum=True`; Spark's
parquet-mr writes them by default and jobs.base asks for them explicitly). A flipped byte in a page then fails
the check instead of decoding to different text or tokens, and a damaged footer fails to parse.

`verify_parquet` reads every page of one file with the check on (pyarrow `page_checksum_verification=True`) and
returns its row count from the footer, or raises CorruptInputError naming the file. The Spark stages run it on
their input files before reading them (one task per file, see jobs.base.read_verified_parquet): with
`[integrity] fail_on_corrupt_input = true` (the default) the stage stops with one line naming the file;
with false the file is left out and its rows are dropped as `corrupt_input` (its path in failed_inputs), so
the stage's _stats.json still adds up. A file written without checksums (by another tool) is only checked as
far as its decoder notices damage.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass

from pipeline.config import ConfigError, Fraction
from pipeline.stats import DropReason

CORRUPT_INPUT = DropReason.CORRUPT_INPUT  # drop reason: rows of an input file left out because it is damaged
VERIFY_BATCH_ROWS = 65536


@dataclass(kw_only=True)
class IntegrityConfig:
    """[integrity]: what a stage does with a damaged input Parquet file, and how much operational loss it takes."""

    # true: stop the stage with one line naming the file; false: leave the file out, its rows counted as dropped
    fail_on_corrupt_input: bool = True
    # a stage stops, writing nothing, when more than this share of its input is dropped for operational reasons
    # (timeout, decode_error, malformed_record, missing_input, corrupt_input, extraction_error): the run broke
    max_operational_drop_share: Fraction = 0.2


class CorruptInputError(ValueError):
    """A Parquet input file fails its footer or page checks; the message names the file."""


@dataclass(frozen=True)
class FileCheck:
    path: str
    rows: int  # from the footer; 0 when the footer itself is unreadable
    error: str = ""  # empty when the file is whole


def verify_parquet(url: str) -> int:
    """Rows of the Parquet file at `url` after reading every page with its checksum verified."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with fsspec.open(url, "rb") as f:
            pf = pq.ParquetFile(f, page_checksum_verification=True)
            for _ in pf.iter_batches(batch_size=VERIFY_BATCH_ROWS):
                pass
            return pf.metadata.num_rows
    except FileNotFoundError:
        raise CorruptInputError(f"{url}: file not found") from None
    except (OSError, pa.ArrowException, ValueError) as e:
        raise CorruptInputError(f"{url}: damaged Parquet file ({_first_line(e)})") from None


def check_file(url: str) -> FileCheck:
    """verify_parquet as a value: what a Spark task sends back to the driver."""
    try:
        return FileCheck(url, verify_parquet(url))
    except CorruptInputError as e:
        return FileCheck(url, _footer_rows(url), str(e))


def _footer_rows(url: str) -> int:
    """Rows the footer of a damaged file claims (what skipping it drops), 0 when even the footer is gone."""
    import fsspec
    import pyarrow.parquet as pq

    try:
        with fsspec.open(url, "rb") as f:
            return pq.ParquetFile(f).metadata.num_rows
    except Exception:  # noqa: BLE001 (any failure to parse a damaged footer means: unknown)
        return 0


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def parquet_files(inputs: list[str]) -> list[str]:
    """The Parquet files under `inputs` (directories, files, globs; local paths or URLs), sorted, each in the form
    its input was given (a path, or a URL with the same scheme) so that Spark and fsspec both open it. Hidden files
    (`_stats.json`, `.crc`, `_task_stats/`) are not inputs, as for Spark's reader. ConfigError naming the input when
    it matches nothing."""
    import fsspec

    found: list[str] = []
    for url in inputs:
        fs, root = fsspec.core.url_to_fs(url)
        matches = sorted(fs.glob(root)) if glob.has_magic(root) else [root]
        files = []
        for path in matches:
            if fs.isdir(path):
                files += [p for p in sorted(fs.find(path)) if p.endswith(".parquet")
                          and not any(part.startswith(("_", ".")) for part in p[len(path):].split("/") if part)]
            elif fs.isfile(path):
                files.append(path)
        if not files:
            raise ConfigError(f"{url}: no Parquet files there (not found, or an empty directory)")
        scheme = url.split("://", 1)[0] if "://" in url else ""
        # the user's own scheme (s3a://, not fsspec's s3://): Spark's Hadoop file systems are chosen by it
        found += [f"{scheme}://{p}" if scheme else p for p in files]
    return found


def summarize(checks: list[FileCheck], config: IntegrityConfig, stage: str):
    """The whole files and, for the damaged ones, Stats dropping their rows as corrupt_input; CorruptInputError
    (one line, naming the first damaged file) when the config says to stop."""
    from pipeline.stats import Stats

    bad = [c for c in checks if c.error]
    stats = Stats(stage=stage)
    if bad and config.fail_on_corrupt_input:
        more = f" (and {len(bad) - 1} more damaged file(s))" if len(bad) > 1 else ""
        raise CorruptInputError(f"{bad[0].error}{more}; set integrity.fail_on_corrupt_input = false to leave "
                                "damaged files out, counted")
    if bad and len(bad) == len(checks):
        raise CorruptInputError(f"every input file is damaged, e.g. {bad[0].error}")
    for check in bad:
        stats.records_in += check.rows
        if check.rows:
            stats.drop(CORRUPT_INPUT, check.rows)
        stats.failed_inputs.append(check.path)
    if bad:
        stats.count("corrupt_input_files", len(bad))
    return [c.path for c in checks if not c.error], stats
