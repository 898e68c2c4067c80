"""What each `sluice classifiers` subcommand does, behind the argument parsing of classifiers/cli.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

from classifiers.fasttext_model import TrainingError, TrainParams

log = logging.getLogger("sluice.classifiers")


def _extract(html: bytes, url: str | None) -> str | None:
    from pipeline.extract.main_text import html_to_text

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


def labelled_pages(src: str, label_column: str, limit: int | None = None) -> list[dict]:
    """Rows of a labelled page set (JSONL or Parquet) with every field they have: text and the label are needed,
    url and the page features (classifiers.webtype.PAGE_FEATURES) are used when present."""

    import fsspec

    from classifiers.sources import expand

    rows: list[dict] = []
    for url in expand(src):
        if url.lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            with fsspec.open(url, "rb") as f:
                found = pq.read_table(f).to_pylist()
        else:
            from pipeline.jsonl import JsonLinesError, json_objects

            with fsspec.open(url, "rt", encoding="utf-8", compression="infer") as f:
                try:
                    found = [row for _, row in json_objects(f, url)]
                except JsonLinesError as e:
                    raise TrainingError(str(e)) from None
        for i, row in enumerate(found, 1):
            if not isinstance(row.get("text"), str) or not isinstance(row.get(label_column), str):
                raise TrainingError(f"{url}: row {i} lacks a text or a {label_column!r} string")
        rows += found
        if limit is not None and len(rows) >= limit:
            return rows[:limit]
    return rows


def train_webtype(args, params: TrainParams) -> dict:
    from classifiers.webtype import WebTypeTraining, train_webtype

    rows = labelled_pages(args.labelled, args.label_column, args.limit)
    settings = WebTypeTraining(holdout=args.holdout, params=params)
    return {**train_webtype(rows, args.output, settings, args.label_column), "output": args.output}


def train_embedding(args, params: TrainParams) -> dict:
    from classifiers.embedding import EmbeddingTraining, corpus_sample, train_embedding

    settings = EmbeddingTraining(max_docs=args.max_docs, dim=params.dim, epoch=params.epoch, lr=params.lr,
                                 bucket=params.bucket)
    texts = corpus_sample(args.input, settings.max_docs)
    return {**train_embedding(texts, args.output, settings), "output": args.output}


def train_extractor(args) -> dict:
    from classifiers.extractor import ExtractorTraining, train_extractor

    if getattr(args, "wcxb", None):
        from classifiers.extractor_wcxb import WcxbTraining, train_wcxb_extractor

        metrics = train_wcxb_extractor(args.wcxb, args.output, WcxbTraining(folds=args.folds, seed=args.seed),
                                       getattr(args, "extraction_dev", None))
        return {**metrics, "output": args.output}
    settings = ExtractorTraining(folds=args.folds, seed=args.seed, annotation_weight=args.annotation_weight)
    return {**train_extractor(args.extraction_dev, args.crawl, args.output, settings), "output": args.output}
