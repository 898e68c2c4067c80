"""Rule-based filters: language id, Gopher quality and repetition, C4 line rules, FineWeb rules, URL block list.

One module per family, each a `filters.base.Filter` with its own config dataclass; `FilterChain` runs the enabled
ones in order. A filter drops with "<DropReason>:<rule>" (e.g. "gopher_quality:too_few_words"): the chain reports
the part before ':' as the drop reason and counts the whole string in `Stats.counters`. `FiltersConfig` is the
`[filters]` table of the run's TOML, one sub-table per family (keys and published defaults in each module):

    [filters.lang]
    min_score = 0.65
    languages = ["en", "zh"]
    [filters.gopher_repetition.max_dup_ngram_char_frac]
    5 = 0.15
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.filters.c4 import C4Config, C4Filter
from pipeline.filters.chain import FilterChain
from pipeline.filters.fineweb import FineWebConfig, FineWebFilter
from pipeline.filters.gopher_quality import GopherQualityConfig, GopherQualityFilter
from pipeline.filters.gopher_repetition import GopherRepetitionConfig, GopherRepetitionFilter
from pipeline.filters.langid import LanguageConfig, LanguageFilter, LanguageScorer
from pipeline.filters.url_blocklist import UrlBlocklistConfig, UrlBlocklistFilter


@dataclass(kw_only=True)
class FiltersConfig:
    url_blocklist: UrlBlocklistConfig = field(default_factory=UrlBlocklistConfig)
    lang: LanguageConfig = field(default_factory=LanguageConfig)
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    c4: C4Config = field(default_factory=C4Config)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)


def build_chain(config: FiltersConfig | None = None) -> FilterChain:
    """The chain a stage job runs; build it where it runs (on the executor): it is cheap until first used."""
    return FilterChain(config or FiltersConfig())


__all__ = [
    "C4Config", "C4Filter", "FilterChain", "FiltersConfig", "FineWebConfig", "FineWebFilter", "GopherQualityConfig",
    "GopherQualityFilter", "GopherRepetitionConfig", "GopherRepetitionFilter", "LanguageConfig", "LanguageFilter",
    "LanguageScorer", "UrlBlocklistConfig", "UrlBlocklistFilter", "build_chain",
]
