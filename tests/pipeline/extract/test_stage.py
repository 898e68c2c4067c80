"""The extract stage on one file at a time, without Spark: what the job runs in every task."""

import io

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from jobs.run_config import RunConfig
from pipeline.extract.stage import extract_documents
from pipeline.stats import Stats
from tests.conftest import shared_data


def _article() -> str:
    """Real, varied prose that ships with Python (the language reference), as HTML paragraphs."""
    from pydoc_data.topics import topics

    paragraphs = [p.strip() for p in topics["assignment"].split("\n\n") if len(p.split()) > 20]
    return "\n".join(f"<p>{p}</p>" for p in paragraphs[:8])


ARTICLE = _article()


def _warc(pages: list[tuple[str, bytes, str]]) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for url, body, content_type in pages:
        headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                      http_headers=headers))
    return buf.getvalue()


def test_every_shared_sample_file_is_read_and_counted():
    config = RunConfig()
    for path in sorted(shared_data("warc").iterdir()):
        if path.suffix == ".md":
            continue
        stats = Stats()
        docs = list(extract_documents(str(path), config.extract, config.filters, stats))
        assert stats.balanced(), (path.name, stats.to_dict())
        assert stats.records_out == len(docs)


def test_kept_document_has_the_row_fields_and_counts_balance(tmp_path):
    html = f"<html><head><title>t</title></head><body><article>{ARTICLE}</article></body></html>".encode()
    data = _warc([
        ("http://www.example.org/a", html, "text/html; charset=utf-8"),
        ("http://example.org/img.png", b"\x89PNG\r\n\x1a\n", "image/png"),
        ("http://example.org/empty", b"", "text/html"),
        ("http://example.org/cut", html, "text/html"),
    ])
    path = tmp_path / "t.warc.gz"
    path.write_bytes(data[:-40])  # the last gzip member is cut short, as in an interrupted download
    config = RunConfig()
    stats = Stats()
    docs = list(extract_documents(str(path), config.extract, config.filters, stats))
    assert [d.url for d in docs] == ["http://www.example.org/a"]
    doc = docs[0]
    assert doc.domain == "example.org" and doc.lang == "en" and doc.lang_score >= 0.65
    assert doc.n_chars == len(doc.text) and "assignment" in doc.text
    assert doc.warc_path.endswith("t.warc.gz") and doc.warc_offset == 0
    assert stats.dropped["not_html"] == 1
    assert stats.dropped["malformed_record"] >= 1
    assert stats.balanced()
