"""Training throughput of the bundled MoE trainer, two comparisons, each side the production Trainer on the same
synthetic shards (random tokens, documents of exactly seq_len + 1 tokens so every batch has the same shape):

    experts   grouped-GEMM experts vs a per-expert loop (`model.moe.experts_impl`), one process
              -> benchmarks/results/train.json; with --device cuda also the `small` config at sequence length
              4096 in bf16 on the GPU: MFU, grouped vs loop, and peak memory next to the memory plan's estimate
    ep        expert parallelism: 2 gloo processes on the CPU, EP 2 (each rank holds half the experts, token slots
              move with all-to-all) vs EP 1 (FSDP only), tokens/s of the whole job and the all-to-all share of step
              time (counts exchange, dispatch, combine, forward and backward, waiting included)
              -> benchmarks/results/train_ep.json. CPU only: on one GPU there is nothing to split

    python benchmarks/train_bench.py                 # CPU, small size (checked anywhere, a few minutes)
    python benchmarks/train_bench.py --device cuda   # adds the GPU numbers to train.json

Warm-up steps are excluded. Routing is forced to balance (random tokens teach the router only to collapse).
Which numbers are CPU-only is written into each result (`cpu_only`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.synthetic_shards import write_synthetic_shards  # noqa: E402
from pipeline.config import to_dict  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.loop import Trainer  # noqa: E402
from trainer.model import count_params  # noqa: E402

# the CPU size: the tiny architecture made wide enough that expert GEMMs, not Python, dominate a step
CPU_OVERRIDES = {
    "model.dim": 256, "model.n_layers": 4, "model.n_heads": 4, "model.ffn_dim": 512, "model.max_seq_len": 256,
    "model.vocab_size": 1024, "model.moe.n_routed_experts": 32, "model.moe.top_k": 4,
    "model.moe.expert_ffn_dim": 128, "data.tokens_per_batch": 2048,
}
CUDA_OVERRIDES = {"data.tokens_per_batch": 16384, "data.num_workers": 2, "train.bf16": True}


def run(config: str, overrides: dict, impl: str, steps: int, warmup: int, data: Path) -> dict:
    o = {**overrides, "model.moe.experts_impl": impl, "train.steps": steps + warmup, "train.log_every": 10**9,
         "save.every": 0, "save.at_end": False, "optim.warmup_steps": 1}
    cfg = load_config(config, o)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(cfg, data, out)
        # random tokens teach the router nothing but a collapse onto a few experts; benchmark the balanced
        # steady state that the bias balancing reaches on real data
        for moe in trainer.model.moe_layers():
            moe.router._debug_force_load_balance = True
        total, active = count_params(trainer.model)
        history = trainer.train()
        del trainer
    measured = history[warmup:]
    seconds = sum(m["step_time_s"] for m in measured)
    tokens = sum(m["tokens"] for m in measured)
    mfus = [m["mfu"] for m in measured if m["mfu"] is not None]
    result = {"tokens_per_s": round(tokens / seconds, 1), "step_time_s": round(seconds / len(measured), 4),
              "mfu": round(float(np.mean(mfus)), 4) if mfus else None,
              "tflops_per_s": round(float(np.mean([m["tflops_per_s"] for m in measured])), 3),
              "peak_mem_bytes": max(m["mem_bytes"] for m in measured), "batch_shape": measured[0]["batch_shape"],
              "final_loss": measured[-1]["loss"], "total_params": total, "active_params": active,
              "config": to_dict(cfg)}
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def memory_plan_bytes(config: str, overrides: dict) -> int | None:
    """The `sluice train --plan` estimate of peak bytes for this run on one GPU (trainer/plan.py, layout 1 x 1,
    at the run's [recompute] mode); None when the plan is unavailable, so a GPU run never fails over it."""
    try:
        from trainer.plan import plan_layout

        cfg = load_config(config, overrides)
        mode = {"none": "none", "full": "full"}.get(cfg.recompute.mode, "planned")
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        estimate = plan_layout(cfg, 1, 1, 1, total, gpu=True).total(mode)
    except (ImportError, AttributeError, TypeError, ValueError) as e:
        print(f"memory plan unavailable: {e}", file=sys.stderr)
        return None
    return int(estimate) if estimate is not None else None


def bench(device: str, steps: int, warmup: int, ref_steps: int) -> dict:
    if device == "cpu":
        config, overrides, seq = "tiny", {**CPU_OVERRIDES, "train.device": "cpu"}, CPU_OVERRIDES["model.max_seq_len"]
    else:
        config, overrides, seq = "small", {**CUDA_OVERRIDES, "train.device": "cuda"}, 4096
    cfg = load_config(config, overrides)
    docs = (steps + warmup + 2) * max(1, cfg.data.tokens_per_batch // seq) * max(1, cfg.data.num_workers)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic_shards(Path(tmp) / "shards", [seq + 1] * docs, cfg.model.vocab_size)
        t0 = time.perf_counter()
        ours = run(config, overrides, "grouped", steps, warmup, data)
        reference = run(config, overrides, "loop", ref_steps, warmup, data)
    result = {"device": device if device == "cpu" else torch.cuda.get_device_name(), "seq_len": seq,
              "ours": ours, "reference": reference,
              "ratio": round(ours["tokens_per_s"] / reference["tokens_per_s"], 3),
              "wall_s": round(time.perf_counter() - t0, 1)}
    if device == "cuda":
        plan = memory_plan_bytes(config, overrides)
        result["plan_peak_bytes"] = plan
        result["peak_over_plan"] = round(ours["peak_mem_bytes"] / plan, 3) if plan else None
    return result


# --- expert parallelism on the CPU ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ep_rank(rank: int, world: int, port: int, ep: int, steps: int, warmup: int, data: str, out: str) -> None:
    import torch.distributed as dist

    from trainer.expert_parallel import CommTimer

    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    o = {**CPU_OVERRIDES, "train.device": "cpu", "parallel.ep": ep, "train.steps": steps + warmup,
         "train.log_every": 10**9, "save.every": 0, "save.at_end": False, "optim.warmup_steps": 1}
    cfg = load_config("tiny", o)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, data, Path(run_dir) / str(rank))
        for moe in trainer.model.moe_layers():
            moe.router._debug_force_load_balance = True

        def start_timing(step: int, metrics: dict) -> None:
            if step == warmup:
                CommTimer.enabled, CommTimer.seconds, CommTimer.calls = True, 0.0, 0

        trainer.on_step_end = start_timing
        history = trainer.train()[warmup:]
    comm = torch.tensor([CommTimer.seconds], dtype=torch.float64)
    dist.all_reduce(comm, op=dist.ReduceOp.MAX)  # the slowest rank's time: what the step waits for
    if rank == 0:
        seconds = sum(m["step_time_s"] for m in history)
        tokens = sum(m["tokens"] for m in history)
        Path(out).write_text(json.dumps({
            "ep": ep, "dp_shard": world // ep, "ranks": world, "tokens_per_s": round(tokens / seconds, 1),
            "step_time_s": round(seconds / len(history), 4), "a2a_s_per_step": round(float(comm) / len(history), 4),
            "a2a_share": round(float(comm) / seconds, 4), "a2a_calls_per_step": CommTimer.calls // len(history),
            "final_loss": history[-1]["loss"], "batch_shape": history[0]["batch_shape"]}))
    dist.barrier()
    dist.destroy_process_group()


def bench_ep(steps: int, warmup: int, rounds: int, world: int = 2) -> dict:
    """EP = world vs EP 1 on `world` gloo processes, the same global batches. The two alternate for `rounds`
    rounds and each keeps its fastest: on a shared machine one run's noise is larger than the difference."""
    import torch.multiprocessing as mp

    cfg = load_config("tiny", CPU_OVERRIDES)
    seq = CPU_OVERRIDES["model.max_seq_len"]
    docs = (steps + warmup + 2) * max(1, cfg.data.tokens_per_batch // seq) * world
    runs: dict[str, list[dict]] = {f"ep{world}": [], "ep1": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic_shards(Path(tmp) / "shards", [seq + 1] * docs, cfg.model.vocab_size)
        for i in range(rounds):
            for ep in (world, 1) if i % 2 == 0 else (1, world):
                out = Path(tmp) / f"ep{ep}-{i}.json"
                # forked after this process imported the trainer: ranks skip torch's ~5 s first import of dynamo
                mp.start_processes(_ep_rank, args=(world, _free_port(), ep, steps, warmup, str(data), str(out)),
                                   nprocs=world, join=True, start_method="fork")
                runs[f"ep{ep}"].append(json.loads(out.read_text()))
    ours, reference = (max(runs[k], key=lambda r: r["tokens_per_s"]) for k in (f"ep{world}", "ep1"))
    return {"ours": ours, "reference": reference, "ratio": round(ours["tokens_per_s"] / reference["tokens_per_s"], 3),
            "rounds": runs}


def machine() -> str:
    return describe_machine(f"{torch.get_num_threads()} torch threads")


def write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                   help="cuda runs the CPU size too; auto = cuda when available")
    p.add_argument("--only", choices=["experts", "ep"], help="run one of the two comparisons")
    p.add_argument("--steps", type=int, default=20, help="measured steps on CUDA")
    p.add_argument("--warmup", type=int, default=10, help="excluded steps on CUDA")
    p.add_argument("--cpu-steps", type=int, default=8, help="measured steps on the CPU")
    p.add_argument("--cpu-warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--ep-rounds", type=int, default=3, help="alternating EP / no-EP runs, the fastest of each kept")
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    date = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    versions = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
                "forced_balanced_routing": True}

    if args.only in (None, "experts"):
        runs = {"cpu": bench("cpu", args.cpu_steps, args.cpu_warmup, ref_steps=args.cpu_steps)}
        if device == "cuda":
            runs["cuda"] = bench("cuda", args.steps, args.warmup, ref_steps=max(5, args.steps // 4))
        head = runs.get("cuda", runs["cpu"])
        print(f"{'device':<28}{'seq':>6}{'grouped tok/s':>16}{'loop tok/s':>14}{'ratio':>8}{'MFU':>8}"
              f"{'peak mem':>12}{'plan':>12}")
        for r in runs.values():
            mfu = f"{r['ours']['mfu']:.1%}" if r["ours"]["mfu"] is not None else "-"
            plan = f"{r['plan_peak_bytes'] / 2**30:>10.2f}Gi" if r.get("plan_peak_bytes") else f"{'-':>12}"
            print(f"{r['device']:<28}{r['seq_len']:>6}{r['ours']['tokens_per_s']:>16,.0f}"
                  f"{r['reference']['tokens_per_s']:>14,.0f}{r['ratio']:>8.2f}{mfu:>8}"
                  f"{r['ours']['peak_mem_bytes'] / 2**30:>10.2f}Gi{plan}")
        write(Path(args.out_dir) / "train.json", {
            "name": "train", "machine": machine(), "device": head["device"], "date": date,
            "ours": head["ours"]["tokens_per_s"], "reference": head["reference"]["tokens_per_s"],
            "ratio": head["ratio"], "unit": "tokens/s (training, grouped-GEMM experts vs per-expert loop)",
            "mfu": head["ours"]["mfu"], "peak_mem_bytes": head["ours"]["peak_mem_bytes"],
            "plan_peak_bytes": head.get("plan_peak_bytes"), "peak_over_plan": head.get("peak_over_plan"),
            "cpu_only": device != "cuda",
            "params": {"steps": {"cpu": args.cpu_steps, "cuda": args.steps},
                       "warmup": {"cpu": args.cpu_warmup, "cuda": args.warmup}, **versions,
                       "mfu_convention": "6*active matmul params + 12*layers*heads*head_dim*seq per token, "
                                         "bf16 dense peak"},
            "runs": runs})

    if args.only in (None, "ep"):
        ep = bench_ep(args.cpu_steps, args.cpu_warmup, args.ep_rounds)
        print(f"{'layout':<24}{'tok/s':>10}{'step s':>10}{'a2a s/step':>12}{'a2a share':>11}")
        for r in (ep["ours"], ep["reference"]):
            print(f"{'dp_shard ' + str(r['dp_shard']) + ' x ep ' + str(r['ep']):<24}{r['tokens_per_s']:>10,.0f}"
                  f"{r['step_time_s']:>10.3f}{r['a2a_s_per_step']:>12.4f}{r['a2a_share']:>11.1%}")
        write(Path(args.out_dir) / "train_ep.json", {
            "name": "train_ep", "machine": machine(), "device": "cpu", "date": date,
            "ours": ep["ours"]["tokens_per_s"], "reference": ep["reference"]["tokens_per_s"], "ratio": ep["ratio"],
            "unit": "tokens/s (2 gloo CPU ranks, expert parallel 2 vs FSDP only; fastest of alternating rounds)",
            "a2a_share": ep["ours"]["a2a_share"], "cpu_only": True,
            "params": {"steps": args.cpu_steps, "warmup": args.cpu_warmup, "ranks": 2, "rounds": args.ep_rounds,
                       "overrides": CPU_OVERRIDES, **versions},
            "runs": ep})
    return 0


if __name__ == "__main__":
    sys.exit(main())
