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
from typing import Annotated

from pipeline.config import ConfigError, Count, Range
from pipeline.filters.c4 import C4Config, C4Filter
from pipeline.filters.chain import CHECKED, FilterChain
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
    # a rule that drops more than this share of the documents it judged stops the stage (filter or extract), named
    # with its share: a misspelled language list or a threshold on the wrong scale, not a corpus, does that.
    # Judged only from min_checked documents on (a handful of pages can all be short). 1.0 = off.
    max_drop_share: Annotated[float, Range(0.0, 1.0, open_lo=True)] = 0.95
    min_checked: Count = 50

    def __post_init__(self) -> None:
        if not 0.0 < self.max_drop_share <= 1.0:
            raise ConfigError(f"filters.max_drop_share must be in (0, 1], got {self.max_drop_share}")
        if self.min_checked < 1:
            raise ConfigError(f"filters.min_checked must be >= 1, got {self.min_checked}")


class RuleShareError(ValueError):
    """One rule dropped more of the documents than filters.max_drop_share allows; the message names it."""


def check_rule_shares(stats, config: FiltersConfig, stage: str) -> None:
    """RuleShareError naming the rule that dropped the most, when it dropped more than max_drop_share of the
    documents the rules judged (`filters.checked`)."""
    checked = stats.counters.get(CHECKED, 0)
    if checked < config.min_checked or config.max_drop_share >= 1.0:
        return
    rules = {k: v for k, v in stats.counters.items() if ":" in k and k.split(":", 1)[0] in _FILTER_REASONS}
    for reason in _FILTER_REASONS:  # a filter without rule detail (e.g. url_blocklist) counts as itself
        if reason in stats.dropped and not any(k.startswith(f"{reason}:") for k in rules):
            rules[reason] = stats.dropped[reason]
    by_reason = {r: stats.dropped.get(r, 0) for r in _FILTER_REASONS}
    worst = max(by_reason, key=by_reason.get)
    if by_reason[worst] <= config.max_drop_share * checked:
        return
    rule = max((k for k in rules if k.split(":", 1)[0] == worst), key=rules.get, default=worst)
    hint = _HINTS.get(rule, "")
    n = by_reason[worst]
    raise RuleShareError(
        f"{stage}: rule {rule} dropped {n:,} of {checked:,} documents ({n / checked:.1%}), "
        f"more than filters.max_drop_share = {config.max_drop_share}{hint}; nothing was written")


_FILTER_REASONS = ("url_blocklist", "lang", "gopher_quality", "gopher_repetition", "c4", "fineweb")
_HINTS = {
    "lang:not_allowed": " (check filters.lang.languages: lid.176 codes such as \"en\", or the codes of the input's "
                        "language column)",
    "lang:low_score": " (check filters.lang.min_score)",
}

def build_chain(config: FiltersConfig | None = None) -> FilterChain:
    """The chain a stage job runs; build it where it runs (on the executor): it is cheap until first used."""
    return FilterChain(config or FiltersConfig())


__all__ = [
    "C4Config", "C4Filter", "FilterChain", "FiltersConfig", "FineWebConfig", "FineWebFilter", "GopherQualityConfig",
    "GopherQualityFilter", "GopherRepetitionConfig", "GopherRepetitionFilter", "LanguageConfig", "LanguageFilter",
    "LanguageScorer", "RuleShareError", "UrlBlocklistConfig", "UrlBlocklistFilter", "build_chain", "check_rule_shares",
]
