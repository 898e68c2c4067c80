"""Damaged input Parquet files: named, then stopped on or skipped and counted (pipeline.integrity)."""

import pyarrow.parquet as pq
import pytest

from pipeline.config import ConfigError
from pipeline.document import Document, write_documents
from pipeline.integrity import (
    CORRUPT_INPUT,
    CorruptInputError,
    IntegrityConfig,
    check_file,
    parquet_files,
    summarize,
    verify_parquet,
)


def documents_file(path, n: int = 300):
    docs = [Document(id=f"d{i}", url=f"https://example.com/{i}", domain="example.com", warc_path="a.warc.gz",
                     warc_offset=i, fetch_time="2026-01-01T00:00:00Z", lang="en", lang_score=1.0,
                     text=f"paragraph {i} " * 40, n_chars=0) for i in range(n)]
    write_documents(iter(docs), str(path), row_group_rows=100)
    return path


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x04
    path.write_bytes(bytes(data))


def text_page_offset(path) -> int:
    """Where row group 1's text values start: its dictionary page (a data page header carries min/max statistics,
    which no CRC covers and no reader of the values uses)."""
    meta = pq.ParquetFile(path).metadata
    chunk = meta.row_group(1).column(meta.schema.to_arrow_schema().get_field_index("text"))
    return chunk.dictionary_page_offset or chunk.data_page_offset


def test_whole_file_passes_with_its_rows(tmp_path):
    assert verify_parquet(str(documents_file(tmp_path / "a.parquet"))) == 300


def test_flipped_byte_in_text_is_an_error_naming_the_file(tmp_path):
    """The issue's case: one flipped byte in a documents file used to change 14 documents' text silently."""
    path = documents_file(tmp_path / "a.parquet")
    flip(path, text_page_offset(path) + 60)
    with pytest.raises(CorruptInputError, match=r"a\.parquet: damaged Parquet file \(.*CRC checksum"):
        verify_parquet(str(path))
    check = check_file(str(path))
    assert check.rows == 300 and "a.parquet" in check.error  # the footer still says what skipping it drops


def test_truncated_file_is_named_and_has_no_rows(tmp_path):
    path = documents_file(tmp_path / "a.parquet")
    path.write_bytes(path.read_bytes()[:-300])
    check = check_file(str(path))
    assert check.rows == 0 and check.error.startswith(f"{path}: damaged Parquet file")


def test_listing_skips_hidden_files_and_names_an_empty_input(tmp_path):
    stage = tmp_path / "classified"
    stage.mkdir()
    documents_file(stage / "part-00001.parquet")
    documents_file(stage / "part-00000.parquet")
    (stage / "_stats.json").write_text("{}")
    (stage / "_task_stats").mkdir()
    (stage / "_task_stats" / "x.parquet").write_bytes(b"")
    assert parquet_files([str(stage)]) == [str(stage / "part-00000.parquet"), str(stage / "part-00001.parquet")]
    assert parquet_files([str(stage / "part-0000[1].parquet")]) == [str(stage / "part-00001.parquet")]
    with pytest.raises(ConfigError, match=r"nothing/\*\.parquet: no Parquet files there"):
        parquet_files([str(tmp_path / "nothing" / "*.parquet")])


def test_stop_by_default_or_skip_counted(tmp_path):
    good = documents_file(tmp_path / "good.parquet", 50)
    bad = documents_file(tmp_path / "bad.parquet", 300)
    flip(bad, text_page_offset(bad) + 60)
    checks = [check_file(str(good)), check_file(str(bad))]
    with pytest.raises(CorruptInputError, match=r"bad\.parquet: damaged .*integrity\.fail_on_corrupt_input = false"):
        summarize(checks, IntegrityConfig(), "classify")
    files, stats = summarize(checks, IntegrityConfig(fail_on_corrupt_input=False), "classify")
    assert files == [str(good)]
    assert stats.records_in == 300 and stats.dropped == {CORRUPT_INPUT: 300} and stats.balanced()
    assert stats.failed_inputs == [str(bad)] and stats.counters["corrupt_input_files"] == 1
    with pytest.raises(CorruptInputError, match="every input file is damaged"):
        summarize(checks[1:], IntegrityConfig(fail_on_corrupt_input=False), "classify")


def test_urls_keep_the_scheme_they_were_given_in(tmp_path):
    """Spark picks its Hadoop file system by scheme (s3a://, not fsspec's s3://): files come back as given."""
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    documents_file(tmp_path / "a.parquet", 10)
    fs.pipe("/integrity-test/stage/part-00000.parquet", (tmp_path / "a.parquet").read_bytes())
    fs.pipe("/integrity-test/stage/_stats.json", b"{}")
    files = parquet_files(["memory://integrity-test/stage"])
    assert files == ["memory:///integrity-test/stage/part-00000.parquet"]
    assert verify_parquet(files[0]) == 10
    fs.rm("/integrity-test", recursive=True)
