"""`sluice classifiers train-demo`: small quality, domain, clutter and web-type models from a sample crawl's labels.

Real users train on their own labels (README); the demo trains these so `make demo` needs no download.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from classifiers.fasttext_model import TrainingError, TrainParams


def train_demo(crawl: str, output: str, extraction_dev: str | None = None) -> dict:
    from classifiers.clutter import ClutterTraining, train_clutter
    from classifiers.commands import clutter_pages
    from classifiers.domain import DomainTraining, train_domain
    from classifiers.quality import QualityTraining, train_quality
    from classifiers.webtype import WebTypeTraining, train_webtype
    from demo.labels import crawl_clutter_pages, crawl_documents

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    small = {"dim": 32, "bucket": 50_000, "threads": 1}
    docs = crawl_documents(crawl)
    good = [d["text"] for d in docs if d["quality"] == "good"]
    bad = [d["text"] for d in docs if d["quality"] != "good"]
    metrics = {"quality_v1": train_quality(good, bad, out / "quality_v1.bin",
                                           QualityTraining(params=TrainParams(lr=0.1, epoch=10, **small)))}
    labelled = [d for d in docs if d.get("category")]
    metrics["domain_v1"] = train_domain([d["text"] for d in labelled], [d["category"] for d in labelled],
                                        out / "domain_v1.bin",
                                        DomainTraining(params=TrainParams(lr=0.3, epoch=15, word_ngrams=1, **small)))
    pages = clutter_pages(crawl, extraction_dev, None, crawl_pages=crawl_clutter_pages)
    metrics["clutter_v1"] = train_clutter(pages, out / "clutter_v1.bin",
                                          ClutterTraining(params=TrainParams(lr=0.2, epoch=15, **small)))
    typed = [d for d in docs if d.get("web_type")]
    webtype = WebTypeTraining(params=TrainParams(lr=0.5, epoch=25, word_ngrams=1, **small))
    metrics["webtype_v1"] = train_webtype(typed, out / "webtype_v1.bin", webtype)
    (out / "demo_metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sluice classifiers train-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--crawl", required=True, help="a `sluice sample-crawl` output directory")
    p.add_argument("--output", required=True, help="directory for quality_v1.bin, domain_v1.bin, clutter_v1.bin, "
                   "webtype_v1.bin")
    p.add_argument("--extraction-dev", default=None, help="extraction-dev directory (training pages only)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        metrics = train_demo(args.crawl, args.output, args.extraction_dev)
    except TrainingError as e:
        print(f"sluice classifiers: {e}", file=sys.stderr)
        return 1
    for name, m in metrics.items():
        print(f"{name:>20}: {json.dumps(m, sort_keys=True)}")
    return 0
