"""Activation checkpointing modes side by side: none, full, static (one plan for the largest shape), mimose.

Every mode is the production Trainer (trainer/loop.py) stepping through the same stream of batches: a fixed
number of sequences per batch, padded to the length bucket of the longest, with document lengths drawn from real
shards (--shards, their n_tokens column) or else a log-normal, so batch shapes vary from step to step.

    python benchmarks/checkpoint_bench.py                 # CPU, small size (1-2 minutes)
    python benchmarks/checkpoint_bench.py --device cuda   # also the `small` config in bf16 on the GPU

CPU: the budget counts saved-activation bytes (`budget_scope = "activations"`), measured every step with
trainer.recompute.ActivationMeter; a step whose measured peak (kept bytes + largest recompute working set)
exceeds the budget counts as an out-of-memory step and is skipped (its tokens and time are not counted).
CUDA: the budget is real device memory, enforced with torch.cuda.set_per_process_memory_fraction; a step that
raises torch.cuda.OutOfMemoryError is counted, cleaned up and skipped (its wasted time is counted). In both, the
budget sits between full recompute's peak and no recompute's peak on the largest shape, so `none` runs out.
Writes benchmarks/results/checkpoint.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")  # before CUDA initialises
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.machine import describe_machine  # noqa: E402
from pipeline.config import to_dict  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data import default_buckets  # noqa: E402
from trainer.loop import Trainer  # noqa: E402
from trainer.model import IGNORE_INDEX  # noqa: E402
from trainer.recompute import ActivationMeter  # noqa: E402

MODES = ("none", "full", "static", "mimose")
COMMON = {"train.log_every": 10**9, "save.every": 0, "save.at_end": False, "optim.warmup_steps": 1,
          "data.num_workers": 0}
CPU_SIZE = {"model.dim": 128, "model.n_layers": 6, "model.n_heads": 4, "model.ffn_dim": 256,
            "model.max_seq_len": 256, "model.vocab_size": 1024, "model.moe.n_routed_experts": 16,
            "model.moe.expert_ffn_dim": 64, "train.device": "cpu"}
CUDA_SIZE = {"train.device": "cuda", "train.bf16": True}


def doc_lengths(shards: Path | None, n: int, median: float, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    files = sorted(shards.glob("shard-*.parquet")) if shards else []
    if files:
        import pyarrow.parquet as pq

        real = np.concatenate([pq.read_table(f, columns=["n_tokens"])["n_tokens"].to_numpy() for f in files])
        return rng.choice(real[real > 1], size=n), f"n_tokens of {len(files)} shards in {shards}"
    return np.maximum(2, rng.lognormal(np.log(median), 1.0, size=n)).astype(int), f"log-normal(median {median})"


def batch_stream(lengths: np.ndarray, batch_size: int, max_seq: int, vocab: int, seed: int) -> list[dict]:
    """Batches of `batch_size` sequences, right-padded to the bucket (as trainer/data.py buckets) of the longest."""
    rng = np.random.default_rng(seed)
    buckets = default_buckets(max_seq)
    batches = []
    for i in range(0, len(lengths) - batch_size + 1, batch_size):
        n_real = np.minimum(lengths[i:i + batch_size] - 1, max_seq)
        S = next(b for b in buckets if b >= n_real.max())
        inputs = torch.from_numpy(rng.integers(0, vocab, (batch_size, S)))
        labels = torch.from_numpy(rng.integers(0, vocab, (batch_size, S)))
        labels[torch.arange(S)[None, :] >= torch.from_numpy(n_real)[:, None]] = IGNORE_INDEX
        batches.append({"input_ids": inputs, "labels": labels})
    return batches


def write_dummy_shards(root: Path, vocab: int) -> Path:
    """The Trainer opens a shard directory; the benchmark feeds its own batches, so one tiny shard does."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.shards.format import MANIFEST, ShardInfo, build_manifest, manifest_json, shard_name

    root.mkdir(parents=True, exist_ok=True)
    path = root / shard_name(0)
    pq.write_table(pa.table({"tokens": pa.array([[1, 2, 3]] * 4, pa.list_(pa.uint32())),
                             "n_tokens": pa.array([3] * 4, pa.int32())}), path)
    data = path.read_bytes()
    info = ShardInfo(file=path.name, rows=4, tokens=12, bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     row_groups=[4])
    (root / MANIFEST).write_text(manifest_json(build_manifest([info], {"vocab_size": vocab}, {}, "")))
    return root


class ModeRun:
    """One mode's Trainer and its per-step records."""

    def __init__(self, config: str, overrides: dict, mode: str, budget: float, data: Path, out: Path):
        o = {**overrides, **COMMON, "recompute.mode": mode, "recompute.budget": float(budget)}
        self.mode, self.cfg, self.budget = mode, load_config(config, o), budget
        self.trainer = Trainer(self.cfg, data, out / mode)
        for moe in self.trainer.model.moe_layers():  # random tokens teach routing nothing: keep experts balanced
            moe.router._debug_force_load_balance = True
        self.cuda = self.trainer.dims.device.type == "cuda"
        self.meter = None if self.cuda else ActivationMeter(self.trainer.model)
        self.records: list[dict] = []

    def step(self, batch: dict) -> dict:
        shape = tuple(batch["input_ids"].shape)
        t0 = time.perf_counter()
        try:
            if self.meter is not None:
                self.meter.start(shape)
            m = self.trainer.train_step([batch])
        except torch.cuda.OutOfMemoryError:
            m = None
        if m is None:  # outside the except block, so the failed step's frames (and tensors) are gone
            self._clean_up_after_oom()
            rec = {"shape": shape, "oom": True, "tokens": 0, "seconds": time.perf_counter() - t0}
        else:
            measured = m["mem_bytes"]
            if self.meter is not None:
                measured = self.meter.stop().peak_bytes(self.trainer.model.recompute_plan)
            rec = {"shape": shape, "oom": measured > self.budget, "tokens": m["tokens"], "seconds": m["step_time_s"],
                   "measured": measured, "predicted": m.get("predicted_mem_bytes"),
                   "source": m.get("plan_source"), "recomputed": m["recomputed_blocks"]}
        self.records.append(rec)
        return rec

    def _clean_up_after_oom(self) -> None:
        t = self.trainer
        t.optimizer.zero_grad(set_to_none=True)
        for moe in t.model.moe_layers():
            moe.router.tokens_per_expert.zero_()
        if hasattr(t.recompute, "abort_step"):
            t.recompute.abort_step()
        gc.collect()
        torch.cuda.empty_cache()

    def summary(self, warmup: int) -> dict:
        measured = self.records[warmup:]
        ok = [r for r in measured if not r["oom"]]
        # CPU: a simulated OOM costs nothing; CUDA: the time until the allocator failed is lost
        seconds = sum(r["seconds"] for r in (measured if self.cuda else ok))
        out = {"tokens_per_s": round(sum(r["tokens"] for r in ok) / seconds, 1) if seconds else 0.0,
               "peak_mem_bytes": int(max((r["measured"] for r in ok), default=0)),
               "ooms": sum(r["oom"] for r in self.records), "steps": len(self.records),
               "mean_recomputed_blocks": round(float(np.mean([r["recomputed"] for r in ok])), 2) if ok else None}
        if self.mode in ("static", "mimose"):
            collected, errors, unseen = set(), [], []
            for r in self.records:
                if r["oom"] or r.get("measured") is None:
                    continue
                if r["source"] == "collect":
                    collected.add(r["shape"])
                elif r["predicted"]:
                    errors.append(abs(r["predicted"] - r["measured"]) / r["measured"])
                    if r["shape"] not in collected:  # a shape the predictor was not fitted on
                        unseen.append(errors[-1])
            for key, errs in (("prediction_error", errors), ("prediction_error_unseen", unseen)):
                out[key] = float(f"{np.mean(errs):.3g}") if errs else None
            out["prediction_error_max"] = float(f"{np.max(errors):.3g}") if errors else None
            out["planner"] = {k: (float(f"{v:.4g}") if isinstance(v, float) else v)
                              for k, v in self.trainer.recompute.summary().items() if v is not None}
        return out

    def close(self) -> None:
        del self.trainer
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()


def peak_for(run: ModeRun, batch: dict) -> float:
    """One step's measured peak (inf when it runs out of device memory)."""
    rec = run.step(batch)
    run.records.clear()
    return float("inf") if rec["oom"] and run.cuda else float(rec["measured"])


def bench(device: str, args, data: Path, out: Path) -> dict:
    cuda = device == "cuda"
    config, size = ("small", CUDA_SIZE) if cuda else ("tiny", CPU_SIZE)
    base = load_config(config, size)
    max_seq, B = base.seq_len, args.batch
    overrides = {**size, "data.tokens_per_batch": B * max_seq}  # static's largest shape: (B, max_seq)
    rng = np.random.default_rng(args.seed)
    steps = args.steps if cuda else args.cpu_steps
    lengths, source = doc_lengths(args.shards, steps * B, args.median or (400 if cuda else 25), rng)
    stream = batch_stream(lengths, B, max_seq, base.model.vocab_size, args.seed)
    largest = max(stream, key=lambda b: b["input_ids"].numel())

    # calibrate: the budget lies `--budget-frac` of the way from full recompute's peak to no recompute's peak
    probe_none = ModeRun(config, overrides, "none", float("inf"), data, out / "probe")
    none_peak = peak_for(probe_none, largest)
    probe_none.close()
    probe_full = ModeRun(config, overrides, "full", float("inf"), data, out / "probe2")
    full_peak = peak_for(probe_full, largest)
    probe_full.close()
    total = torch.cuda.get_device_properties(0).total_memory if cuda else None
    top = min(none_peak, 0.95 * total) if cuda else none_peak
    budget = args.budget or full_peak + args.budget_frac * (top - full_peak)
    if cuda:
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget / total))

    t0, modes = time.perf_counter(), {}
    if cuda:  # one model on the device at a time
        for mode in MODES:
            run = ModeRun(config, overrides, mode, budget, data, out)
            for batch in stream:
                run.step(batch)
            modes[mode] = run.summary(args.warmup)
            run.close()
    else:  # round robin in rotating order, so load from other work on a shared machine hits every mode alike
        runs = {mode: ModeRun(config, overrides, mode, budget, data, out) for mode in MODES}
        for i, batch in enumerate(stream):
            for k in range(len(MODES)):
                runs[MODES[(i + k) % len(MODES)]].step(batch)
        modes = {mode: run.summary(args.warmup) for mode, run in runs.items()}
    shapes = sorted({tuple(b["input_ids"].shape) for b in stream}, key=lambda s: s[0] * s[1])
    return {"device": torch.cuda.get_device_name() if cuda else "cpu", "budget_bytes": int(budget),
            "budget_scope": "device" if cuda else "activations", "modes": modes,
            "prediction_error": modes["mimose"]["prediction_error"],
            "planning_overhead": modes["mimose"]["planner"]["planning_overhead"],
            "calibration": {"none_peak_largest": none_peak, "full_peak_largest": full_peak,
                            "budget_frac": args.budget_frac},
            "stream": {"batches": len(stream), "batch_size": B, "lengths": source, "n_shapes": len(shapes),
                       "smallest": shapes[0], "largest": shapes[-1]},
            "config": to_dict(load_config(config, {**overrides, **COMMON, "recompute.mode": "mimose",
                                                   "recompute.budget": float(budget)})),
            "wall_s": round(time.perf_counter() - t0, 1)}


def machine() -> str:
    return describe_machine(f"{torch.get_num_threads()} torch threads")


def print_table(r: dict) -> None:
    print(f"\n{r['device']}: budget {r['budget_bytes'] / 2**20:,.1f} MiB ({r['budget_scope']}), "
          f"{r['stream']['batches']} batches, shapes {r['stream']['smallest']}..{r['stream']['largest']}")
    print(f"{'mode':<8}{'tokens/s':>12}{'peak MiB':>12}{'OOMs':>6}{'recomputed':>12}")
    for mode, m in r["modes"].items():
        print(f"{mode:<8}{m['tokens_per_s']:>12,.1f}{m['peak_mem_bytes'] / 2**20:>12,.1f}{m['ooms']:>6}"
              f"{m['mean_recomputed_blocks'] if m['mean_recomputed_blocks'] is not None else '-':>12}")
    po = r["planning_overhead"]
    print(f"mimose: prediction error {r['prediction_error']}, planning overhead "
          f"{'-' if po is None else f'{po:.3%}'} of step time")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto", help="cuda runs the CPU size too")
    p.add_argument("--steps", type=int, default=60, help="batches per mode on CUDA")
    p.add_argument("--cpu-steps", type=int, default=40, help="batches per mode on the CPU")
    p.add_argument("--warmup", type=int, default=1, help="first steps left out of tokens/s")
    p.add_argument("--batch", type=int, default=8, help="sequences per batch")
    p.add_argument("--median", type=float, default=0.0, help="median document length of the log-normal")
    p.add_argument("--shards", type=Path, default=None, help="sample document lengths from these shards")
    p.add_argument("--budget", type=float, default=0.0, help="budget in bytes (0: calibrated, see --budget-frac)")
    p.add_argument("--budget-frac", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "checkpoint.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"

    with tempfile.TemporaryDirectory() as tmp:
        data = write_dummy_shards(Path(tmp) / "shards", 1024)
        runs = {"cpu": bench("cpu", args, data, Path(tmp) / "cpu")}
        if device == "cuda":
            runs["cuda"] = bench("cuda", args, data, Path(tmp) / "cuda")
    for r in runs.values():
        print_table(r)
    head = runs.get("cuda", runs["cpu"])
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result = {"name": "checkpoint", "machine": machine(), "date": now,
              "device": head["device"], "budget_bytes": head["budget_bytes"], "modes": head["modes"],
              "prediction_error": head["prediction_error"], "planning_overhead": head["planning_overhead"],
              "ours": head["modes"]["mimose"]["tokens_per_s"], "reference": head["modes"]["full"]["tokens_per_s"],
              "ratio": round(head["modes"]["mimose"]["tokens_per_s"] / head["modes"]["full"]["tokens_per_s"], 3),
              "ratio_vs_static": round(head["modes"]["mimose"]["tokens_per_s"]
                                       / head["modes"]["static"]["tokens_per_s"], 3),
              "unit": "tokens/s (mimose vs full recompute, same batch stream and budget)",
              "params": {"cpu_steps": args.cpu_steps, "cuda_steps": args.steps, "warmup": args.warmup,
                         "budget_frac": args.budget_frac, "seed": args.seed, "torch": torch.__version__,
                         "python": platform.python_version(), "threads": torch.get_num_threads(),
                         "forced_balanced_routing": True},
              "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
