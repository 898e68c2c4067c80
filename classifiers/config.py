"""Settings of the model-based stage ([classify] in run.toml). Owned by the classifiers stage.

Models are named by registry name (see `classifiers.registry`), e.g. `quality_v1`, and looked up as
`<models dir>/<name>.bin` (fastText) or `<name>.npz` (clusters); an empty name switches that model off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pipeline.config import ConfigError, Count, Fraction, NonNegative, Range


@dataclass(kw_only=True)
class BalanceConfig:
    """[classify.balance]: how many copies of each category the corpus should carry.

    mode = "factor": `targets[c]` is the factor itself (0.3 = keep 30%, 2.0 = two copies on average).
    mode = "share": `targets[c]` is the category's wanted share of the output; the factor is
    wanted share / observed share, computed from the category histogram of this run.
    Factors are capped at `max_factor`; categories not in `targets` get `default` (factor mode) or keep
    their observed share (share mode).
    """

    mode: Literal["factor", "share"] = "factor"
    by: Literal["category", "web_type"] = "category"  # the column whose values `targets` names
    default: NonNegative = 1.0
    max_factor: Annotated[float, Range(1.0)] = 4.0
    targets: dict[str, NonNegative] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # NaN passes every comparison below and gives every document 0 copies: a silently empty corpus
        for key, value in (("default", self.default), ("max_factor", self.max_factor),
                           *((f"targets.{name}", v) for name, v in self.targets.items())):
            if not math.isfinite(value):
                raise ConfigError(f"classify.balance.{key}: must be a finite number, got {value}")
        if self.default < 0:
            raise ConfigError(f"classify.balance.default: must be >= 0, got {self.default}")
        if self.max_factor < 1:
            raise ConfigError(f"classify.balance.max_factor: must be >= 1, got {self.max_factor}")
        for name, value in self.targets.items():
            if value < 0:
                raise ConfigError(f"classify.balance.targets.{name}: must be >= 0, got {value}")
        if self.mode == "share" and sum(self.targets.values()) > 1 + 1e-9:
            raise ConfigError(f"classify.balance.targets: shares add up to {sum(self.targets.values()):.3f} > 1")


@dataclass(kw_only=True)
class ClassifyConfig:
    clutter_model: str = "clutter_v1"
    quality_model: str = "quality_v1"
    domain_model: str = "domain_v1"
    # lines whose P(content) is below this are removed from the text
    clutter_threshold: Fraction = 0.5
    # documents whose P(high quality) is below this are dropped with reason low_quality
    min_quality: Fraction = 0.0
    # only the first characters of a long document are scored; whole-document models saturate long before
    max_scored_chars: Annotated[int, Range(100, 2**31 - 1)] = 20000
    # rows per Arrow batch in the Spark job
    batch_rows: Count = 1024
    # web_type and web_type_score come from this web-type model (`sluice classifiers train webtype`) when it is set,
    # else ("") from the page type the extract stage wrote (pipeline.extract.page_type: article, forum, product,
    # collection, listing, documentation, service); an input without page_type then gets no web_type
    webtype_model: str = ""
    keep_web_types: list[str] = field(default_factory=list)  # not empty: other types are dropped (web_type)
    drop_web_types: list[str] = field(default_factory=list)  # these types are dropped (web_type)
    # load a fastText model that has no card (size, sha256, labels) beside it; nothing then says it is whole
    allow_uncarded_models: bool = False
    # the stage stops, naming the model, instead of writing its output when it would drop more than this share
    max_drop_share: Fraction = 0.9
    balance: BalanceConfig = field(default_factory=BalanceConfig)

    def __post_init__(self) -> None:
        for key in ("clutter_threshold", "min_quality", "max_drop_share"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"classify.{key}: must be within [0, 1], got {value}")
        if self.max_scored_chars < 100:
            raise ConfigError(f"classify.max_scored_chars: must be >= 100, got {self.max_scored_chars}")
        if self.batch_rows < 1:
            raise ConfigError(f"classify.batch_rows: must be >= 1, got {self.batch_rows}")
        if self.keep_web_types and self.drop_web_types:
            raise ConfigError("classify.keep_web_types and classify.drop_web_types: set one of them, not both")
        if not self.webtype_model:  # the page types are known here; a model's types are checked when it loads
            from pipeline.extract.page_type import PAGE_TYPES

            for key in ("keep_web_types", "drop_web_types"):
                unknown = sorted(set(getattr(self, key)) - set(PAGE_TYPES))
                if unknown:
                    raise ConfigError(f"classify.{key}: unknown page type {unknown[0]!r}; the page types are "
                                      f"{', '.join(PAGE_TYPES)} (or set classify.webtype_model to a model of yours)")
