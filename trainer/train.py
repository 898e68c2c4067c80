"""`sluice train`: train the MoE model on a shard directory (also runs under `torchrun --nproc-per-node N`)."""

from __future__ import annotations

import argparse
import sys
import warnings

from pipeline.config import ConfigError
from pipeline.storage_errors import storage_error


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sluice train", description=__doc__)
    p.add_argument("--data", help="shard directory (shard-*.parquet + manifest.json)")
    p.add_argument("--config", required=True,
                   help="config name in trainer/configs/ (tiny, small, dots_llm1) or a .toml path")
    p.add_argument("--out", help="run directory: metrics.jsonl, config.json, checkpoints/")
    p.add_argument("--steps", type=int, help="total optimizer steps (train.steps)")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete saved state in --out")
    p.add_argument("--count-params", action="store_true", help="build the model on the meta device, print its size")
    p.add_argument("--plan", action="store_true",
                   help="print the bytes per GPU (parameters, gradients, optimizer, activations per [recompute] "
                        "mode) of every dp_shard x ep layout of --gpus GPUs, and which fit --gpu-mem")
    p.add_argument("--gpus", type=int, default=1, help="with --plan: number of GPUs (default 1)")
    p.add_argument("--gpu-mem", default="80GiB",
                   help="with --plan: memory per GPU with its unit, e.g. 80GiB, 141GB (default 80GiB)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set optim.lr=1e-3 (repeatable)")
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings a user acts on (a renamed config table, a collapsing router) as one line, without source code."""
    return f"sluice train: {category.__name__}: {message}\n"


def main(argv: list[str] | None = None) -> int:
    formatter, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = formatter


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from trainer.config import load_config, parse_override
    from trainer.data import DataError
    from trainer.loop import NonFiniteError
    from trainer.saved_files import CheckpointError

    try:
        overrides = dict(parse_override(s) for s in args.set)
        if args.steps is not None:
            overrides["train.steps"] = args.steps
        cfg = load_config(args.config, overrides)
        if (args.count_params or args.plan) and cfg.model.vocab_size < 1:
            if not args.data:
                raise ConfigError(f"{args.config}: model.vocab_size is not set (it comes from the shards): give "
                                  "--data SHARDS or --set model.vocab_size=N")
            from trainer.data import resolve_vocabulary

            resolve_vocabulary(cfg.model, args.data)
        if args.plan:
            from trainer.plan import print_plan

            return print_plan(args.config, cfg, args.gpus, args.gpu_mem)
        if args.count_params:
            from trainer.model import count_params

            total, active = count_params(cfg.model.build("meta"))
            print(f"{args.config}: {total / 1e9:.2f}B parameters, {active / 1e9:.2f}B active per token")
            print(f"total_params={total} active_params={active}")
            return 0
        if not args.data or not args.out:
            build_parser().error("--data and --out are required (unless --count-params or --plan)")
        from trainer.loop import train
        from trainer.parallelize import shutdown

        try:
            train(cfg, args.data, args.out, resume=args.resume)
        finally:
            shutdown()
    except (ConfigError, DataError, CheckpointError, FileNotFoundError, FileExistsError) as e:
        print(f"sluice train: error: {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:  # the run itself went wrong, not its inputs
        print(f"sluice train: error: {e}", file=sys.stderr)
        return 1
    except BaseException as e:  # noqa: BLE001 - DCP wraps each rank's error in a BaseException
        cause = io_error(e)
        if cause is None:
            raise
        print(f"sluice train: error: cannot write {cause.filename or args.out}: {cause.strerror}", file=sys.stderr)
        return 2
    return 0


def io_error(e: BaseException) -> OSError | None:
    """The disk-full, read-only or permission OSError behind `e`, if any: the user frees space or fixes
    permissions and resumes."""
    return storage_error(e, held=_rank_failures)


def _rank_failures(x: BaseException) -> list[BaseException]:
    """torch.distributed.checkpoint raises a CheckpointException whose `failures` maps each failed rank to a tuple
    (exception, traceback)."""
    return [f[0] for f in getattr(x, "failures", {}).values() if isinstance(f, tuple) and f]


if __name__ == "__main__":
    sys.exit(main())
