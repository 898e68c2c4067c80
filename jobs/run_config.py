"""The one TOML file of a run: a table per stage, each parsed into the dataclass its stage defines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from classifiers.config import ClassifyConfig
from pipeline.audit import AuditConfig
from pipeline.config import load_toml
from pipeline.corpus.config import InputConfig
from pipeline.decontaminate.ngrams import DecontaminateConfig
from pipeline.dedup.primitives import DedupConfig
from pipeline.extract.main_text import ExtractConfig
from pipeline.filters import FiltersConfig
from pipeline.integrity import IntegrityConfig
from pipeline.pii.formatter import PIIConfig
from pipeline.semdedup.primitives import SemDedupConfig
from pipeline.tokenize.tokenizer import TokenizeConfig


@dataclass(kw_only=True)
class RunConfig:
    input: InputConfig = field(default_factory=InputConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    semdedup: SemDedupConfig = field(default_factory=SemDedupConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)

    @classmethod
    def load(cls, path: str | Path | None) -> RunConfig:
        return load_toml(cls, path)
