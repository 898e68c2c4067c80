"""WARC and ARC reading: gzip members, records, the HTTP responses a crawl holds (surviving damage)."""
