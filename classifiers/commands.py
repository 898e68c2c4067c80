"""What each `sluice classifiers` subcommand does, behind the argument parsing of classifiers/cli.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

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


def clutter_pages(crawl: str | None, extraction_dev: str | None, pages_src: str | None, limit: int | None = None):
    from classifiers import clutter_data
    from classifiers.sample_labels import crawl_clutter_pages

    pages = []
    if crawl:
        pages += crawl_clutter_pages(crawl)
    if extraction_dev:
        pages += clutter_data.extraction_dev_pages(extraction_dev, _extract)
    if pages_src:
        from classifiers.sources import read_records

        pages += clutter_data.reference_pages(read_records(pages_src, ["html", "content"], limit), _extract)
    if not pages:
        raise TrainingError("clutter: give at least one of --crawl, --extraction-dev, --pages")
    return pages


def train_clutter(args, params: TrainParams) -> dict:
    from classifiers.clutter import ClutterTraining, train_clutter

    pages = clutter_pages(args.crawl, args.extraction_dev, args.pages, args.limit)
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


def train_demo(args) -> dict:
    """Small quality, domain and clutter models from a sample crawl's own labels (demo only)."""
    from classifiers.clutter import ClutterTraining, train_clutter
    from classifiers.domain import DomainTraining, train_domain
    from classifiers.quality import QualityTraining, train_quality
    from classifiers.sample_labels import crawl_documents

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    small = {"dim": 32, "bucket": 50_000, "threads": 1}
    docs = crawl_documents(args.crawl)
    good = [d["text"] for d in docs if d["quality"] == "good"]
    bad = [d["text"] for d in docs if d["quality"] != "good"]
    metrics = {"quality_v1": train_quality(good, bad, out / "quality_v1.bin",
                                           QualityTraining(params=TrainParams(lr=0.1, epoch=10, **small)))}
    labelled = [d for d in docs if d.get("category")]
    metrics["domain_v1"] = train_domain([d["text"] for d in labelled], [d["category"] for d in labelled],
                                        out / "domain_v1.bin",
                                        DomainTraining(params=TrainParams(lr=0.3, epoch=15, word_ngrams=1, **small)))
    pages = clutter_pages(args.crawl, args.extraction_dev, None)
    metrics["clutter_v1"] = train_clutter(pages, out / "clutter_v1.bin",
                                          ClutterTraining(params=TrainParams(lr=0.2, epoch=15, **small)))
    (out / "demo_metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return {name: json.dumps(m, sort_keys=True) for name, m in metrics.items()}
