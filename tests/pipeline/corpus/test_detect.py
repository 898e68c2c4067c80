import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.corpus.detect import InputFormatError, detect_kind, expand_corpus, input_kind
from tests.conftest import shared_data


def _jsonl(path, rows, codec=None):
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if codec == "gzip":
        data = gzip.compress(data)
    elif codec == "zstd":
        with pa.CompressedOutputStream(str(path), "zstd") as f:
            f.write(data)
        return path
    path.write_bytes(data)
    return path


def test_kind_is_read_from_the_bytes_not_the_name(tmp_path):
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "corpus.jsonl")  # Parquet under a JSON name
    assert detect_kind(str(tmp_path / "corpus.jsonl")) == "parquet"
    assert detect_kind(str(_jsonl(tmp_path / "a.parquet", [{"text": "x"}]))) == "jsonl"
    assert detect_kind(str(_jsonl(tmp_path / "b.bin", [{"text": "x"}], "gzip"))) == "jsonl"
    assert detect_kind(str(_jsonl(tmp_path / "c.bin", [{"text": "x"}], "zstd"))) == "jsonl"
    assert detect_kind(str(shared_data("warc", "example.warc.gz"))) == "warc"
    assert detect_kind(str(shared_data("warc", "example.warc"))) == "warc"
    assert detect_kind(str(shared_data("warc", "example.arc"))) == "warc"
    schema = pa.schema([("text", pa.string())])
    with pa.OSFile(str(tmp_path / "d.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
        w.write_table(pa.table({"text": ["x"]}))
    assert detect_kind(str(tmp_path / "d.arrow")) == "arrow"


def test_a_warc_given_as_parquet_is_one_clear_line(tmp_path):
    warc = str(shared_data("warc", "example.warc.gz"))
    with pytest.raises(InputFormatError, match=r"is a WARC/ARC file, but input.format = 'parquet'"):
        input_kind([warc], "parquet")
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "x.warc.gz")
    with pytest.raises(InputFormatError, match=r"x.warc.gz: is a Parquet file, but input.format = 'warc'"):
        input_kind([str(tmp_path / "x.warc.gz")], "warc")
    with pytest.raises(InputFormatError, match="mixes WARC files"):
        input_kind([warc, str(tmp_path / "x.warc.gz")])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFormatError, match="notes.txt: not WARC, Parquet, JSON lines or Arrow"):
        input_kind([str(tmp_path / "notes.txt")])


def test_kinds_of_whole_inputs(tmp_path):
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "a.parquet")
    assert input_kind([str(tmp_path / "a.parquet")]) == "documents"
    assert input_kind([str(shared_data("warc", "example.warc.gz"))]) == "warc"


def test_a_file_that_vanished_after_listing_says_nothing_about_the_kind(tmp_path):
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "a.parquet")
    (tmp_path / "gone.parquet").symlink_to(tmp_path / "nowhere.parquet")  # listed, then unreadable
    files = [str(tmp_path / "a.parquet"), str(tmp_path / "gone.parquet")]
    assert input_kind(files) == "documents"  # the stage counts the vanished one as missing_input


def test_a_hugging_face_dataset_folder_expands_to_its_data_files(tmp_path):
    data = tmp_path / "ds" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.table({"text": ["a"]}), data / "train-00000-of-00002.parquet")
    pq.write_table(pa.table({"text": ["b"]}), data / "train-00001-of-00002.parquet")
    (tmp_path / "ds" / "README.md").write_text("---\nlicense: mit\n---\n")
    (tmp_path / "ds" / "dataset_info.json").write_text("{}")
    (data / "_SUCCESS").write_text("")
    files = expand_corpus([str(tmp_path / "ds")])
    assert [f.rsplit("/", 1)[-1] for f in files] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    with pytest.raises(FileNotFoundError, match="no input file matches"):
        expand_corpus([str(tmp_path / "none*.parquet")])
