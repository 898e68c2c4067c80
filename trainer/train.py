"""`sluice train`: train the MoE model on a shard directory (also runs under `torchrun --nproc-per-node N`)."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluice train", description=__doc__)
    p.add_argument("--data", help="shard directory (shard-*.parquet + manifest.json)")
    p.add_argument("--config", required=True,
                   help="config name in trainer/configs/ (tiny, small, dots_llm1) or a .toml path")
    p.add_argument("--out", help="run directory: metrics.jsonl, config.json, checkpoints/")
    p.add_argument("--steps", type=int, help="total optimizer steps (train.steps)")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete saved state in --out")
    p.add_argument("--count-params", action="store_true", help="build the model on the meta device, print its size")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set optim.lr=1e-3 (repeatable)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from trainer.config import load_config, parse_override
    from trainer.data import DataError

    try:
        overrides = dict(parse_override(s) for s in args.set)
        if args.steps is not None:
            overrides["train.steps"] = args.steps
        cfg = load_config(args.config, overrides)
        if args.count_params:
            from trainer.model import count_params

            total, active = count_params(cfg.model.build("meta"))
            print(f"{args.config}: {total / 1e9:.2f}B parameters, {active / 1e9:.2f}B active per token")
            print(f"total_params={total} active_params={active}")
            return 0
        if not args.data or not args.out:
            build_parser().error("--data and --out are required (unless --count-params)")
        from trainer.loop import train
        from trainer.parallelize import shutdown

        try:
            train(cfg, args.data, args.out, resume=args.resume)
        finally:
            shutdown()
    except (ConfigError, DataError, FileNotFoundError, FileExistsError) as e:
        print(f"sluice train: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
