"""What each `sluice classifiers` subcommand does, behind the argument parsing of classifiers/cli.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

from classifiers.fasttext_model import TrainingError, TrainParams

log = logging.getLogger("sluice.classifiers")


def _extract(html: bytes, url: str | None) -> str | None:
    from pipeline.extract import html_to_text

    return html_to_text(html, url)


def train_quality(args, params: TrainParams) -> dict:
    from classifiers.quality import QualityTraining, train_quality
    from classifiers.sources import read_texts

    positives = read_texts(args.positive, args.text_column, args.limit)
    negatives = read_texts(args.negative, args.text_column, args.limit)
    settings = QualityTraining(holdout=args.holdout, params=params)
    return {"positives": len(positives), "negatives": len(negatives),
            **train_quality(positives, negatives, args.output, settings), "output": args.output}


def train_domain(args, params: TrainParams) -> dict:
    from classifiers.domain import DomainTraining, train_domain
    from classifiers.sources import read_records

    rows = read_records(args.labelled, [args.text_column, args.label_column], args.limit)
    settings = DomainTraining(holdout=args.holdout, params=params)
    texts = [r[args.text_column] for r in rows]
    return {**train_domain(texts, [r[args.label_column] for r in rows], args.output, settings), "output": args.output}


def clutter_pages(crawl: str | None, extraction_dev: str | None, pages_src: str | None, limit: int | None = None,
                  crawl_pages: Callable[[str], list] | None = None):
    """`crawl_pages` reads a sample crawl's labelled pages; it comes from the layer that owns the demo data
    (jobs/cli.py passes demo.labels.crawl_clutter_pages), since classifiers/ imports nothing above it."""
    from classifiers import clutter_data

    pages = []
    if crawl:
        if crawl_pages is None:
            raise TrainingError("clutter: --crawl needs the demo package (run through the `sluice` command)")
        pages += crawl_pages(crawl)
    if extraction_dev:
        pages += clutter_data.extraction_dev_pages(extraction_dev, _extract)
    if pages_src:
        from classifiers.sources import read_records

        pages += clutter_data.reference_pages(read_records(pages_src, ["html", "content"], limit), _extract)
    if not pages:
        raise TrainingError("clutter: give at least one of --crawl, --extraction-dev, --pages")
    return pages


def train_clutter(args, params: TrainParams, crawl_pages: Callable[[str], list] | None = None) -> dict:
    from classifiers.clutter import ClutterTraining, train_clutter

    pages = clutter_pages(args.crawl, args.extraction_dev, args.pages, args.limit, crawl_pages)
    settings = ClutterTraining(holdout=max(args.holdout, 0.1), params=params)
    metrics = train_clutter(pages, args.output, settings)
    if args.extraction_dev:
        from classifiers.fasttext_model import update_card_metrics

        rates = clutter_rates(args.output, args.extraction_dev, 0.5)
        update_card_metrics(args.output, {"extraction_dev_heldout": rates})
        metrics["extraction_dev_heldout"] = rates
    return {**metrics, "output": args.output}


def clutter_rates(model_path: str, extraction_dev: str, threshold: float) -> dict:
    """with/without snippet rates of html_to_text alone and html_to_text + remover, held-out pages."""
    from classifiers.clutter import ClutterModel
    from classifiers.clutter_data import snippet_rates
    from classifiers.decisions import remove_clutter

    model = ClutterModel.load(model_path)

    def clean(text: str) -> str:
        ((lines, scores),) = model.score_documents([text])
        return remove_clutter(lines, scores, threshold)[0]

    return {"threshold": threshold, "html_to_text": snippet_rates(extraction_dev, _extract),
            "html_to_text+clutter_v1": snippet_rates(extraction_dev, _extract, clean)}


def evaluate_clutter(args) -> dict:
    return clutter_rates(args.model, args.extraction_dev, args.threshold)
