"""The WARC response the extraction tests hand an extractor: one HTML page at a fixed URL and record id."""

from pipeline.warc.reader import WarcResponse


def response(body: bytes, content_type: str = "text/html", truncated: bool = False) -> WarcResponse:
    return WarcResponse(
        url="http://example.com/a", record_id="<urn:x>", offset=0, fetch_time="2024-01-01T00:00:00Z",
        http_headers=[("Content-Type", content_type)], content_type=content_type, body=body,
        warc_path="x.warc.gz", truncated=truncated,
    )
