"""The one script a lent GPU runs (about 8 minutes on one H100/H200), and its CPU smoke size that CI runs.

    python benchmarks/gpu_check.py                # CUDA: writes $OUT/gpu_check.json (else benchmarks/results/)
    python benchmarks/gpu_check.py --cpu-smoke --out /tmp/smoke.json   # tiny sizes, fp32, CPU, seconds

Sections, each timed and recorded on its own (one that fails records its error and the others still run; the JSON
is rewritten after every section, so a run killed at its time limit keeps what it measured):

    experts      grouped-GEMM experts vs the per-expert loop: outputs and gradients (bf16 autocast on CUDA)
    throughput   `small` at sequence 4,096 in bf16: tokens/s, MFU against the device's dense bf16 peak (by name,
                 trainer/loop.py's table), peak memory against `sluice train --plan`; the loop experts for reference
    recompute    none / full / static / mimose under one memory budget (the midpoint of --plan's no-recompute and
                 full-recompute totals at the largest shape, enforced on CUDA with the allocator's memory
                 fraction) on documents of varied lengths: OOMs, tokens/s, blocks recomputed, prediction error
    compiled     throughput again with train.compile = true (run only when time is left)

Synthetic shards come from benchmarks/synthetic_shards.py (the pipeline's shard writer), the steps from the
production Trainer; routing is forced to balance in the throughput sections (random tokens teach the router
nothing but a collapse), not in the recompute one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.synthetic_shards import write_synthetic_shards  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.loop import Trainer, peak_flops  # noqa: E402

MFU_TARGET = 0.45
COMMON = {"save.every": 0, "save.at_end": False, "optim.warmup_steps": 1, "train.log_every": 10**9}


@dataclass(kw_only=True)
class Size:
    config: str
    overrides: dict
    seq: int
    warmup: int
    steps: int
    ref_steps: int
    recompute_steps: int
    experts: dict  # tokens, dim, experts, ffn, top_k of the correctness check
    time_limit_s: float
    modes: list[str] = field(default_factory=lambda: ["none", "full", "static", "mimose"])


SIZES = {
    "cuda": Size(config="small", seq=4096, warmup=8, steps=20, ref_steps=4, recompute_steps=24, time_limit_s=420,
                 overrides={"train.device": "cuda", "train.bf16": True, "data.tokens_per_batch": 16384,
                            "data.num_workers": 2},
                 experts={"tokens": 8192, "dim": 1536, "experts": 48, "ffn": 512, "top_k": 6}),
    "cpu": Size(config="tiny", seq=64, warmup=1, steps=1, ref_steps=1, recompute_steps=6, time_limit_s=120,
                overrides={"train.device": "cpu", "model.vocab_size": 256, "model.max_seq_len": 64,
                           "model.dim": 32, "model.n_heads": 2, "model.ffn_dim": 64, "model.moe.expert_ffn_dim": 16,
                           "data.tokens_per_batch": 256, "data.shuffle_buffer": 64, "data.num_workers": 0},
                experts={"tokens": 64, "dim": 32, "experts": 8, "ffn": 16, "top_k": 2}),
}


# --- experts: grouped vs loop -----------------------------------------------------------------------------------

def check_experts(device: torch.device, e: dict, seed: int = 0) -> dict:
    """The same expert weights and token slots through both implementations, forward and backward. The loop in
    fp32 is the reference; on CUDA the grouped GEMM runs under bf16 autocast as in training."""
    from trainer.moe import GroupedExperts, MoEConfig

    torch.manual_seed(seed)
    cfg = MoEConfig(n_routed_experts=e["experts"], top_k=e["top_k"], expert_ffn_dim=e["ffn"])
    N = e["tokens"] * e["top_k"]
    counts_E = torch.bincount(torch.randint(0, e["experts"] - 1, (N,)), minlength=e["experts"])  # last one empty
    x_ND = torch.randn(N, e["dim"], device=device)
    out, grads = {}, {}
    for impl in ("grouped", "loop"):
        experts = GroupedExperts(e["dim"], replace(cfg, experts_impl=impl)).to(device)
        with torch.no_grad():
            for w in (experts.w1, experts.w2, experts.w3):
                w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(w.numel())) * 0.02)
        x = x_ND.clone().requires_grad_(True)
        bf16 = device.type == "cuda" and impl == "grouped"
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            y = experts(x, counts_E.to(device))
        y.float().square().sum().backward()
        out[impl] = y.detach().float()
        grads[impl] = {"x": x.grad.float(), **{n: getattr(experts, n).grad.float() for n in ("w1", "w2", "w3")}}

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).norm() / b.norm().clamp_min(1e-30))

    errors = {"out": rel(out["grouped"], out["loop"]),
              **{f"grad_{k}": rel(grads["grouped"][k], grads["loop"][k]) for k in grads["loop"]}}
    tolerance = 2e-2 if device.type == "cuda" else 1e-5
    return {"relative_errors": errors, "tolerance": tolerance, "ok": max(errors.values()) <= tolerance,
            "dtype": "bf16 autocast vs fp32 loop" if device.type == "cuda" else "fp32", "shape": e}


# --- training steps -------------------------------------------------------------------------------------------

def make_trainer(size: Size, data: Path, out: Path, extra: dict, balance: bool) -> Trainer:
    cfg = load_config(size.config, {**size.overrides, **COMMON, **extra})
    trainer = Trainer(cfg, data, out)
    for moe in trainer.model.moe_layers():
        moe.router._debug_force_load_balance = balance
    return trainer


def run_steps(trainer: Trainer, steps: int, budget: float | None = None) -> list[dict]:
    """`steps` optimizer steps; an out-of-memory step is counted (`oom`), cleaned up and skipped."""
    history, streams = [], [iter(loader) for loader in trainer.loaders]
    for _ in range(steps):
        batches = [next(s) for s in streams]
        try:
            m = trainer.train_step(batches)
        except torch.cuda.OutOfMemoryError:
            m = {"oom": True, "batch_shape": list(batches[0]["input_ids"].shape)}
        if m.get("oom"):  # cleaned up after the handler, once the traceback no longer holds the step's tensors
            abort = getattr(trainer.recompute, "abort_step", None)
            if abort is not None:
                abort()
            trainer.optimizer.zero_grad(set_to_none=True)
            for moe in trainer.model.moe_layers():
                moe.router.tokens_per_expert.zero_()
                moe.router.bias_step_sum.zero_()
                moe.aux_loss_sum.zero_()
            _free(trainer.dims.device)
        history.append(m)
    return history


def throughput(size: Size, tmp: Path, device: torch.device, extra: dict | None = None,
               reference: bool = True) -> dict:
    extra = extra or {}
    cfg = load_config(size.config, {**size.overrides, **extra})
    workers = max(1, cfg.data.num_workers)
    docs = (size.warmup + size.steps + 4) * max(1, cfg.data.tokens_per_batch // size.seq) * workers
    data = write_synthetic_shards(tmp / "uniform", [size.seq + 1] * docs, cfg.model.vocab_size)
    result = {}
    for impl in ("grouped", "loop") if reference else ("grouped",):
        steps = size.steps if impl == "grouped" else size.ref_steps
        trainer = make_trainer(size, data, tmp / f"run-{impl}-{len(extra)}", {**extra,
                               "model.moe.experts_impl": impl}, balance=True)
        history = run_steps(trainer, size.warmup + steps)[size.warmup:]
        ok = [m for m in history if not m.get("oom")]
        seconds = sum(m["step_time_s"] for m in ok)
        tokens = sum(m["tokens"] for m in ok)
        r = {"tokens_per_s": round(tokens / seconds, 1) if seconds else None, "steps": len(ok),
             "ooms": len(history) - len(ok), "step_time_s": round(seconds / max(len(ok), 1), 4),
             "batch_shape": ok[0]["batch_shape"] if ok else None,
             "mfu": round(float(np.mean([m["mfu"] for m in ok])), 4) if ok and ok[0]["mfu"] is not None else None,
             "tflops_per_s": round(float(np.mean([m["tflops_per_s"] for m in ok])), 2) if ok else None,
             "peak_mem_bytes": max((m["mem_bytes"] for m in ok), default=None),
             "final_loss": ok[-1]["loss"] if ok else None}
        if impl == "grouped":
            r["peak_flops"] = trainer.peak_flops
            r["plan_peak_bytes"] = plan_bytes(trainer.cfg, "none") if device.type == "cuda" else None
            if r["plan_peak_bytes"] and r["peak_mem_bytes"]:
                r["peak_over_plan"] = round(r["peak_mem_bytes"] / r["plan_peak_bytes"], 3)
        result[impl] = r
        del trainer
        _free(device)
    if reference and result["grouped"]["tokens_per_s"] and result["loop"]["tokens_per_s"]:
        result["ratio"] = round(result["grouped"]["tokens_per_s"] / result["loop"]["tokens_per_s"], 3)
    return result


def plan_bytes(cfg, mode: str) -> int | None:
    """What `sluice train --plan` predicts for this run on one device of this memory (layout 1 x 1)."""
    from trainer.plan import plan_layout

    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
    return plan_layout(cfg, 1, 1, 1, total, gpu=True).total(mode)


def recompute_budget(size: Size, device: torch.device) -> float:
    """Midway between --plan's peaks without and with full recompute at the largest shape: `none` should not fit,
    `full` should, and a planner has room to keep some blocks."""
    from trainer.plan import activation_plan, plan_layout

    cfg = load_config(size.config, size.overrides)
    if device.type == "cuda":
        lp = plan_layout(cfg, 1, 1, 1, torch.cuda.get_device_properties(device).total_memory, gpu=True)
        return (lp.total("none") + lp.total("full")) / 2
    B = max(1, cfg.data.tokens_per_batch // cfg.seq_len)
    a = activation_plan(cfg.model, B, cfg.seq_len, gpu=False)
    return (a.none + a.full) / 2


def varied_lengths(n: int, seq: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(x) for x in np.clip(rng.lognormal(np.log(seq / 3), 1.0, n), 16, 2 * seq)]


def recompute_modes(size: Size, tmp: Path, device: torch.device) -> dict:
    cfg = load_config(size.config, size.overrides)
    budget = recompute_budget(size, device)
    n_docs = size.recompute_steps * cfg.data.tokens_per_batch // (size.seq // 3) * 2
    data = write_synthetic_shards(tmp / "varied", varied_lengths(n_docs, size.seq), cfg.model.vocab_size, seed=1)
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    result = {"budget_bytes": int(budget), "device_bytes": total, "modes": {}}
    for mode in size.modes:
        extra = {"recompute.mode": mode}
        if mode in ("static", "mimose"):
            extra.update({"recompute.budget": float(budget), "recompute.collect_steps": 3})
        if total:
            torch.cuda.set_per_process_memory_fraction(min(1.0, budget / total), device)
        try:
            trainer = make_trainer(size, data, tmp / f"rc-{mode}", extra, balance=False)
            history = run_steps(trainer, size.recompute_steps)
            summary = trainer.recompute.summary() if hasattr(trainer.recompute, "summary") else None
            del trainer
        finally:
            if total:
                torch.cuda.set_per_process_memory_fraction(1.0, device)
            _free(device)
        ok = [m for m in history if not m.get("oom")]
        late = ok[len(ok) // 3:]  # after Mimose's collection steps, for every mode alike
        seconds = sum(m["step_time_s"] for m in late)
        measured = [m.get("measured_mem_bytes") or (m["mem_bytes"] if total else None) for m in ok]
        result["modes"][mode] = {
            "steps": len(history), "ooms": len(history) - len(ok),
            "over_budget": sum(1 for x in measured if x is not None and x > budget),
            "tokens_per_s_late": round(sum(m["tokens"] for m in late) / seconds, 1) if seconds else None,
            "mean_recomputed_blocks": round(float(np.mean([m["recomputed_blocks"] for m in ok])), 2) if ok else None,
            "plans": [m.get("recompute_plan") for m in ok], "shapes": [m["batch_shape"] for m in history],
            "peak_mem_bytes": max((x for x in measured if x is not None), default=None), "planner": summary}
    return result


def _free(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


# --- the run --------------------------------------------------------------------------------------------------

def report(result: dict) -> dict:
    """The benchmark fields of DESIGN.md from the sections measured so far."""
    tp = result["sections"].get("throughput", {}).get("result") or {}
    grouped, loop = tp.get("grouped") or {}, tp.get("loop") or {}
    return {**result, "ours": grouped.get("tokens_per_s"), "reference": loop.get("tokens_per_s"),
            "ratio": tp.get("ratio"), "mfu": grouped.get("mfu"), "mfu_target": MFU_TARGET,
            "unit": "tokens/s (training `small` at sequence 4096 in bf16, grouped-GEMM experts vs per-expert loop)"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu-smoke", action="store_true", help="tiny sizes in fp32 on the CPU (the test suite's run)")
    p.add_argument("--out", help="JSON path (default: $OUT/gpu_check.json, else benchmarks/results/gpu_check.json)")
    p.add_argument("--only", action="append", choices=["experts", "throughput", "recompute", "compiled"],
                   help="run only these sections (repeatable)")
    p.add_argument("--time-limit", type=float, help="seconds after which no new section starts")
    args = p.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --cpu-smoke for the CPU size)", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    size = SIZES[device.type]
    limit = args.time_limit or size.time_limit_s
    out = Path(args.out or Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results") / "gpu_check.json")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    result = {"name": "gpu_check", "machine": describe_machine(), "device": name,
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpu_smoke": args.cpu_smoke,
              "peak_bf16_flops": peak_flops(device, 0.0),
              "params": {"config": size.config, "seq_len": size.seq, "overrides": size.overrides,
                         "warmup": size.warmup, "steps": size.steps, "torch": torch.__version__,
                         "python": platform.python_version(), "mfu_convention": "6*active matmul params + "
                         "12*layers*heads*head_dim*seq per token, dense bf16 peak"},
              "sections": {}}
    sections = {"experts": lambda tmp: check_experts(device, size.experts),
                "throughput": lambda tmp: throughput(size, tmp, device),
                "recompute": lambda tmp: recompute_modes(size, tmp, device),
                "compiled": lambda tmp: throughput(size, tmp, device, {"train.compile": True}, reference=False)}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name_, fn in sections.items():
            if args.only and name_ not in args.only:
                continue
            if time.perf_counter() - start > limit:
                result["sections"][name_] = {"skipped": f"time limit of {limit:.0f}s reached"}
                continue
            t0 = time.perf_counter()
            try:
                entry = {"result": fn(Path(tmp) / name_)}
            except Exception as e:  # noqa: BLE001 - one broken section must not cost the others' numbers
                traceback.print_exc()
                entry = {"error": f"{type(e).__name__}: {e}"}
                _free(device)
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            result["sections"][name_] = entry
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report(result), indent=1) + "\n")
            print(f"gpu_check: {name_} done in {entry['seconds']}s: "
                  f"{json.dumps(entry.get('result', entry.get('error')))[:400]}", flush=True)
    print(f"wrote {out}")
    failed = [k for k, v in result["sections"].items() if "error" in v]
    experts_ok = (result["sections"].get("experts", {}).get("result") or {}).get("ok", True)
    return 1 if failed or not experts_ok else 0


if __name__ == "__main__":
    sys.exit(main())
