"""`sluice classifiers ...`: train the quality, domain and clutter models; cluster domains without labels.

  sluice classifiers train quality --positive SRC --negative SRC --output DIR/quality_v1.bin
  sluice classifiers train domain  --labelled SRC --output DIR/domain_v1.bin [--label-column category]
  sluice classifiers train clutter --output DIR/clutter_v1.bin [--crawl DIR] [--extraction-dev DIR] [--pages SRC]
  sluice classifiers train webtype --labelled SRC --output DIR/webtype_v1.bin [--label-column web_type]
  sluice classifiers train embedding --input DOCS --output DIR/embedding_v1.bin [--max-docs 50000]
  sluice classifiers evaluate-clutter --model DIR/clutter_v1.bin --extraction-dev DIR
  sluice classifiers cluster-domains --input DOCS --output DIR [--k 200]   (Spark MLlib)
  sluice classifiers train-demo --crawl DIR --output DIR                    (small models for `make demo`)

SRC: Parquet or JSONL files with a text field, or plain text with one document a line; a path, directory
or glob, local or fsspec URL.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from classifiers.fasttext_model import ModelError, TrainingError, TrainParams


def _add_params(p: argparse.ArgumentParser, defaults: TrainParams) -> None:
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--epoch", type=int, default=defaults.epoch)
    p.add_argument("--dim", type=int, default=defaults.dim)
    p.add_argument("--word-ngrams", type=int, default=defaults.word_ngrams)
    p.add_argument("--bucket", type=int, default=defaults.bucket, help="hash buckets; bucket*dim*4 bytes of model")
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--holdout", type=float, default=0.1, help="share held out to measure the model")
    p.add_argument("--limit", type=int, default=None, help="read at most this many rows per source")


def _params(args) -> TrainParams:
    return TrainParams(lr=args.lr, epoch=args.epoch, dim=args.dim, word_ngrams=args.word_ngrams,
                       bucket=args.bucket, threads=args.threads)


def parser(extra: dict[str, tuple[Callable, str]] | None = None) -> argparse.ArgumentParser:
    from classifiers.clutter import ClutterTraining
    from classifiers.domain import DomainTraining
    from classifiers.embedding import EmbeddingTraining
    from classifiers.quality import QualityTraining
    from classifiers.webtype import WebTypeTraining

    p = argparse.ArgumentParser(prog="sluice classifiers", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one model").add_subparsers(dest="model", required=True)
    quality = train.add_parser("quality", help="P(high quality) from positive and negative documents")
    quality.add_argument("--positive", required=True)
    quality.add_argument("--negative", required=True)
    quality.add_argument("--text-column", default="text")
    quality.add_argument("--output", required=True)
    _add_params(quality, QualityTraining().params)
    domain = train.add_parser("domain", help="a category taxonomy from labelled documents")
    domain.add_argument("--labelled", required=True)
    domain.add_argument("--label-column", default="category")
    domain.add_argument("--text-column", default="text")
    domain.add_argument("--output", required=True)
    _add_params(domain, DomainTraining().params)
    clutter = train.add_parser("clutter", help="line-level content/clutter from pages with known content")
    clutter.add_argument("--crawl", help="a sample crawl directory (its labels.jsonl)")
    clutter.add_argument("--extraction-dev", help="extraction-dev directory (training pages only)")
    clutter.add_argument("--pages", help="SRC of rows with `html` and `content` (reference main text)")
    clutter.add_argument("--output", required=True)
    _add_params(clutter, ClutterTraining().params)
    webtype = train.add_parser("webtype", help="page types (article, forum, product, ...) from labelled pages")
    webtype.add_argument("--labelled", required=True, help="SRC of rows with text and the type; url, link_density, "
                         "list_items, forms, comment_blocks and title are used when present")
    webtype.add_argument("--label-column", default="web_type")
    webtype.add_argument("--output", required=True)
    _add_params(webtype, WebTypeTraining().params)
    webtype.set_defaults(holdout=WebTypeTraining().holdout)
    embedding = train.add_parser("embedding", help="document vectors for semantic dedup (fastText, unsupervised, "
                                 "on a deterministic sample of the corpus)")
    embedding.add_argument("--input", required=True, nargs="+", help="the corpus: Parquet with id and text")
    embedding.add_argument("--max-docs", type=int, default=EmbeddingTraining().max_docs)
    embedding.add_argument("--output", required=True)
    _add_params(embedding, TrainParams(lr=EmbeddingTraining().lr, epoch=0, dim=EmbeddingTraining().dim,
                                       bucket=EmbeddingTraining().bucket))
    from classifiers.extractor import ExtractorTraining

    extractor = train.add_parser("extractor", help="the fast extractor's block model, distilled from trafilatura")
    extractor.add_argument("--extraction-dev", help="extraction-dev directory: trafilatura labels, k-fold CV by page")
    extractor.add_argument("--crawl", help="a sample crawl directory (its labels.jsonl): generator labels")
    extractor.add_argument("--wcxb", help="a WCXB-format directory (ground-truth.jsonl.gz, html/): blocks labelled by "
                                          "overlap with the real main content, a page-type model beside OUTPUT, "
                                          "CV by domain; with --extraction-dev its annotated pages train the blocks "
                                          "too (teacher labels overridden by the snippets) and are cross-validated "
                                          "by domain alongside (--crawl is then not used)")
    extractor.add_argument("--output", required=True, help="model path (.npz; the card is written beside it)")
    extractor.add_argument("--folds", type=int, default=5)
    extractor.add_argument("--seed", type=int, default=1)
    extractor.add_argument("--annotation-weight", type=float, default=ExtractorTraining().annotation_weight,
                           help="weight of extraction-dev's with/without snippets on training pages' blocks; "
                                "0 = pure distillation from trafilatura")
    evaluate = sub.add_parser("evaluate-clutter", help="with/without snippet rates on held-out extraction-dev")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--extraction-dev", required=True)
    evaluate.add_argument("--threshold", type=float, default=0.5)
    for name, (_, help_) in (extra or {}).items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def main(argv: list[str] | None = None, extra: dict[str, tuple[Callable, str]] | None = None,
         crawl_pages: Callable[[str], list] | None = None) -> int:
    """`extra` holds subcommands that need a layer above classifiers/ (cluster-domains runs on Spark, train-demo
    reads the demo's labels); `crawl_pages` reads a sample crawl's labelled pages for `train clutter --crawl`.
    jobs/cli.py supplies both, so this package imports nothing above it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = extra or {}
    if argv[:1] and argv[0] in extra:
        return extra[argv[0]][0](argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser(extra).parse_args(argv)
    from classifiers import commands

    try:
        if args.command == "evaluate-clutter":
            metrics = commands.evaluate_clutter(args)
        elif args.model == "extractor":
            metrics = commands.train_extractor(args)
        elif args.model == "clutter":
            metrics = commands.train_clutter(args, _params(args), crawl_pages)
        else:
            metrics = getattr(commands, f"train_{args.model}")(args, _params(args))
    except (TrainingError, ModelError) as e:
        print(f"sluice classifiers: {e}", file=sys.stderr)
        return 1
    for key, value in metrics.items():
        print(f"{key:>20}: {value}")
    return 0
