"""The extract stage: HTML response → main text (trafilatura or the fast block
extractor), page features, and the per-WARC-file stage function."""
