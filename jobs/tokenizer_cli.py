"""`sluice tokenizer train --input DIR --vocab-size N --output tokenizer.json`: a byte-level BPE trained on a
bounded, deterministic sample of the `text` column of the Parquet files under DIR."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import ConfigError
from pipeline.tokenize.tokenizer import TokenizeConfig, sample_texts, train_tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice tokenizer", description="train a byte-level BPE tokenizer")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on the `text` column of a stage output")
    defaults = TokenizeConfig()
    train.add_argument("--input", required=True, help="directory (or URL) of Parquet files with a text column")
    train.add_argument("--output", required=True, help="tokenizer.json to write")
    train.add_argument("--vocab-size", type=int, default=defaults.vocab_size)
    train.add_argument("--sample-mb", type=int, default=defaults.train_sample_mb, help="text read, at most")
    train.add_argument("--min-frequency", type=int, default=defaults.min_frequency)
    train.add_argument("--eos-token", default=defaults.eos_token)
    args = parser.parse_args(argv)
    try:
        config = TokenizeConfig(vocab_size=args.vocab_size, train_sample_mb=args.sample_mb,
                                min_frequency=args.min_frequency, eos_token=args.eos_token)
        texts = sample_texts(args.input, config.train_sample_mb << 20)
        tokenizer = train_tokenizer(texts, config.vocab_size, config.eos_token, config.min_frequency)
    except ConfigError as e:
        print(f"sluice tokenizer: {e}", file=sys.stderr)
        return 2
    import fsspec

    with fsspec.open(args.output, "w", encoding="utf-8") as f:
        f.write(tokenizer.to_str(pretty=True))
    print(f"sluice tokenizer: wrote {args.output} ({tokenizer.get_vocab_size()} tokens, "
          f"eos {config.eos_token!r} = {tokenizer.token_to_id(config.eos_token)})")
    return 0
