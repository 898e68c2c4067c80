"""Category balancing: a per-document `weight` from its category, the histogram and a target table.

Contract with the tokenize stage (and anyone else reading `weight`):

* `weight` is a float >= 0, the EXPECTED number of copies of the document in the training corpus.
  0.3 means "keep with probability 0.3", 1.0 "keep once", 2.5 "two copies, a third with probability 0.5".
* The integer number of copies is `copies(id, weight) = floor(weight) + (u(id) < weight - floor(weight))`
  where `u(id) = xxhash.xxh64_intdigest(id, seed=COPIES_SEED) / 2**64` is uniform in [0, 1) and depends
  on the document id only, so every rerun, on any cluster, makes the same copies. Use `copies` below
  rather than re-implementing it; 0 copies means the document is left out of the shards.

Factors come from [classify.balance] (see `BalanceConfig`): directly (mode "factor") or as wanted
share / observed share of each category (mode "share"), capped at `max_factor`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import numpy as np

from classifiers.config import BalanceConfig
from pipeline.config import ConfigError

log = logging.getLogger("sluice.classifiers")

COPIES_SEED = 0x5E1CE
_TWO_64 = float(2**64)


def uniform_from_id(doc_id: str) -> float:
    import xxhash

    return xxhash.xxh64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=COPIES_SEED) / _TWO_64


def copies(doc_id: str, weight: float) -> int:
    """Integer copies of a document of expected copies `weight`, decided by its id (see module docstring)."""
    if not weight > 0:
        return 0
    whole = math.floor(weight)
    return whole + (1 if uniform_from_id(doc_id) < weight - whole else 0)


def check_categories(config: BalanceConfig, known: Iterable[str], source: str) -> None:
    """An unknown category in the target table is a typo or a model mismatch: fail before any work."""
    known = set(known)
    unknown = sorted(set(config.targets) - known)
    if unknown:
        shown = ", ".join(sorted(known)[:20]) + (" ..." if len(known) > 20 else "")
        raise ConfigError(f"classify.balance.targets: unknown category {unknown[0]!r}; "
                          f"the domain model {source} has: {shown}")


def category_factors(config: BalanceConfig, histogram: Mapping[str, int]) -> dict[str, float]:
    """Expected copies per category, capped at `max_factor`."""
    if config.mode == "factor":
        raw = {c: config.targets.get(c, config.default) for c in set(histogram) | set(config.targets)}
    else:
        total = sum(histogram.values())
        targeted = sum(config.targets.values())
        rest = sum(n for c, n in histogram.items() if c not in config.targets)
        raw = {}
        for category, count in histogram.items():
            if count == 0:
                continue
            if category in config.targets:
                raw[category] = config.targets[category] * total / count
            else:
                raw[category] = (1.0 - targeted) * total / rest
        for category in config.targets:
            if histogram.get(category, 0) == 0 and config.targets[category] > 0:
                log.warning("balance: category %r has a target share but no documents", category)
    return {c: min(f, config.max_factor) for c, f in raw.items()}


class CategoryBalancer:
    """Maps categories to weights; a category with no factor (factor mode: not in `targets`; share mode: not
    in the histogram) gets the default factor. Factor mode needs no histogram."""

    def __init__(self, config: BalanceConfig, histogram: Mapping[str, int] | None = None):
        self.config = config
        self.factors = category_factors(config, histogram or {})
        # the config is checked at load, but a BalanceConfig built in code or a histogram of zeros can still give
        # NaN or inf: each would turn into 0 copies of every document of its category, i.e. silent loss
        bad = {c: f for c, f in self.factors.items() if not (math.isfinite(f) and f >= 0)}
        default = min(config.default, config.max_factor)
        if bad or not (math.isfinite(default) and default >= 0):
            name, factor = next(iter(sorted(bad.items()))) if bad else ("(default)", default)
            raise ConfigError(f"classify.balance: the factor of {config.by} {name!r} is {factor}; "
                              "factors must be finite numbers >= 0")

    def weights(self, categories: list[str]) -> np.ndarray:
        default = min(self.config.default, self.config.max_factor)
        return np.array([self.factors.get(c, default) for c in categories], dtype=np.float32)
