import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.corpus.config import InputConfig
from pipeline.corpus.detect import InputFormatError
from pipeline.corpus.reader import read_corpus
from pipeline.stats import Stats


def _read(path, config=None):
    stats = Stats()
    batches = list(read_corpus(str(path), config or InputConfig(), stats))
    docs = [d for b in batches for d in b.documents]
    carried = [c for b in batches for c in b.carried]
    return docs, carried, stats


def test_fineweb_columns_are_recognised(tmp_path):
    pq.write_table(pa.table({"text": ["Hello world."], "id": ["<urn:1>"], "url": ["https://www.a.org/x"],
                             "date": ["2024-01-01"], "language": ["en"], "language_score": [0.93],
                             "token_count": [3]}), tmp_path / "f.parquet")
    (doc,), carried, stats = _read(tmp_path / "f.parquet")
    assert (doc.id, doc.url, doc.domain, doc.lang, doc.fetch_time) == ("<urn:1>", "https://www.a.org/x", "a.org", "en",
                                                                       "2024-01-01")
    assert doc.lang_score == pytest.approx(0.93) and doc.n_chars == len("Hello world.")
    assert carried == [{}] and stats.records_in == 1


def test_dolma_and_redpajama_conventions(tmp_path):
    dolma = tmp_path / "dolma.jsonl"
    dolma.write_text(json.dumps({"id": "d1", "text": "Some text.", "source": "c4", "added": "2023-01-01",
                                 "created": "2019-05-05", "metadata": {"url": "https://b.com/p"}}) + "\n")
    (doc,), _, _ = _read(dolma)
    assert (doc.id, doc.url, doc.fetch_time, doc.lang) == ("d1", "https://b.com/p", "2019-05-05", "")
    redpajama = tmp_path / "rp.jsonl"
    meta = json.dumps({"url": "https://c.net/", "language": "de"})  # RedPajama also writes meta as a JSON string
    redpajama.write_text(json.dumps({"raw_content": "Ein Text.", "meta": meta}) + "\n")
    (doc,), _, _ = _read(redpajama)
    assert (doc.text, doc.url, doc.lang, doc.lang_score) == ("Ein Text.", "https://c.net/", "de", 1.0)
    assert len(doc.id) == 20  # no id column: a content id


def test_missing_ids_are_stable_and_distinct_for_copies(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"text": "same"}) + "\n" for _ in range(2)))
    first, _, _ = _read(path)
    again, _, _ = _read(path)
    assert [d.id for d in first] == [d.id for d in again]
    assert first[0].id != first[1].id  # exact copies stay two documents for dedup to judge


def test_column_map_and_carried_columns(tmp_path):
    pq.write_table(pa.table({"body": ["x y z"], "link": ["https://d.io"], "score": [3], "extra": ["e"]}),
                   tmp_path / "c.parquet")
    docs, carried, _ = _read(tmp_path / "c.parquet", InputConfig(text="body", url="link", carry=["score"]))
    assert docs[0].text == "x y z" and docs[0].url == "https://d.io" and carried == [{"score": 3}]
    _, carried, _ = _read(tmp_path / "c.parquet", InputConfig(text="body", carry=["*"]))
    assert carried == [{"extra": "e", "link": "https://d.io", "score": 3}]
    with pytest.raises(InputFormatError, match=r"no text column .*name it with input.text"):
        _read(tmp_path / "c.parquet")
    with pytest.raises(InputFormatError, match="input.url = 'nope', but it has no such column"):
        _read(tmp_path / "c.parquet", InputConfig(text="body", url="nope"))


def test_bad_rows_are_counted_not_fatal(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    import gzip

    lines = [json.dumps({"text": "good one"}), "{not json", json.dumps([1, 2]), json.dumps({"text": 5}),
             json.dumps({"text": "   "})]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    docs, _, stats = _read(path)
    assert [d.text for d in docs] == ["good one"]
    assert stats.records_in == 5 and stats.dropped == {"malformed_record": 3, "empty_text": 1}
    assert stats.counters["malformed_record:json"] == 2


def test_an_unreadable_file_is_counted(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    docs, _, stats = _read(path)
    assert docs == [] and stats.dropped == {"missing_input": 1} and stats.failed_inputs == [str(path)]
