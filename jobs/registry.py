"""The stages of `sluice run`, in order: adding a stage is its module (a `jobs.stage.Stage` subclass) and one line
here. Importing a stage module is cheap: each imports Spark, models and pipeline code inside `run`."""

from __future__ import annotations

from jobs.classify import ClassifyStage
from jobs.decontaminate import DecontaminateStage
from jobs.dedup import DedupStage
from jobs.extract import ExtractStage
from jobs.filter import FilterStage
from jobs.semdedup import SemDedupStage
from jobs.stage import Stage
from jobs.tokenize_shards import TokenizeStage

STAGES: tuple[Stage, ...] = (
    ExtractStage(),
    DedupStage(),
    SemDedupStage(),
    ClassifyStage(),
    DecontaminateStage(),
    TokenizeStage(),
)
# The first stage for a document corpus, in extract's place (same output folder: both write documents).
FIRST_FOR_DOCUMENTS: Stage = FilterStage()


def stages_for(kind: str, stages: tuple[Stage, ...] = STAGES) -> tuple[Stage, ...]:
    """The stages of a run over `kind` ("warc" or "documents") input."""
    return (FIRST_FOR_DOCUMENTS, *stages[1:]) if kind == "documents" else stages


def stage_names() -> list[str]:
    return [s.name for s in (FIRST_FOR_DOCUMENTS, *STAGES)]
