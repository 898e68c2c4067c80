"""Tiny documents for the filter tests (datatrove's `get_doc` idea): one helper, inline text in each test."""

from __future__ import annotations

from pipeline.document import Document

# Distinct English sentences: together they pass every rule with the published thresholds.
SENTENCES = [
    "The river runs through the old town and past the mill that the family built in the last century.",
    "Every morning the baker opens the shop at six and sells warm bread to the workers of the harbour.",
    "In spring the orchards bloom, and visitors come from the cities to walk along the quiet valley.",
    "She has studied the migration of birds for twenty years and wrote a book about their long journeys.",
    "Our library keeps maps, letters and photographs that describe how the region changed over time.",
    "Farmers in the north grow barley and potatoes, while the south is known for its vineyards.",
    "A small museum near the station shows tools that were used by carpenters and blacksmiths.",
    "During the winter festival the main square is decorated with lanterns made by local children.",
    "Scientists have measured the water quality of the lake to understand why the fish population fell.",
    "The new bridge connects both banks and has shortened the daily commute for thousands of people.",
]


def prose(n_sentences: int = 10, per_line: int = 1) -> str:
    """Real-looking English prose, `per_line` sentences per line."""
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(n_sentences)]
    return "\n".join(" ".join(sentences[i : i + per_line]) for i in range(0, len(sentences), per_line))


def get_doc(text: str, url: str = "https://example.org/page", lang: str = "", lang_score: float = 0.0) -> Document:
    return Document(
        id="doc-1",
        url=url,
        domain="",
        warc_path="crawl.warc.gz",
        warc_offset=0,
        fetch_time="2024-01-01T00:00:00Z",
        lang=lang,
        lang_score=lang_score,
        text=text,
        n_chars=len(text),
    )
