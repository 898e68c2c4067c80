"""The training loop: train() -> train_step() -> forward_backward().

Every stateful part (model, optimizer, schedule, data position, step and tokens seen, RNG) is saved together
(trainer/checkpoint.py, sharded with DCP), so a run killed at any point resumes from its newest complete saved
state and reproduces the uninterrupted loss curve (bitwise on CPU at the same layout).

Data streams: the run reads `parallel.data_streams` streams (the world size at its start); rank r reads streams
r, r + W, ... and runs one micro-batch of each per step. A run resumed on fewer ranks keeps the streams, so each
step still sees the same batches.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline.config import ConfigError, to_dict
from trainer import checkpoint
from trainer import state as saved
from trainer.config import JobConfig
from trainer.data import ShardLoader, resolve_vocabulary, shard_tokenizer, write_tokenizer
from trainer.model import IGNORE_INDEX, Transformer, flops_per_token
from trainer.moe import update_expert_biases
from trainer.optim import WSDSchedule, build_optimizer
from trainer.parallelize import (
    ParallelDims,
    RankCollectives,
    agree_recompute_plan,
    build_model,
    clip_grad_norm_,
    init_distributed,
)
from trainer.plan import check_fits
from trainer.recompute import build_recompute_policy
from trainer.saved_files import CheckpointError, ListOf, MapOf, Maybe

# dense bf16 peak per device, for MFU (first matching name wins, so the specific variants come first)
PEAK_BF16_FLOPS = {"H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12, "H200": 989e12, "H800": 989e12,
                   "A100": 312e12, "A800": 312e12, "L40S": 362e12, "B200": 2250e12}


def peak_flops(device: torch.device, configured: float) -> float | None:
    if configured > 0:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def _padding_mask(batch: dict, device: torch.device) -> torch.Tensor | None:
    """The loader's mask of real tokens on the device; None when the batch has no padding (checked on the host,
    so a full batch costs the routers nothing)."""
    mask = batch.get("attention_mask")
    return None if mask is None or bool(mask.all()) else mask.to(device, non_blocking=True)


def memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak RSS of the process


class NonFiniteError(RuntimeError):
    """Training stopped: too many steps in a row with a non-finite loss or gradient norm, or non-finite weights
    at a save. The message names the step."""


# what the loop reads back from trainer.json and rank-*.json (trainer/saved_files.py checks saves against it)
TRAINER_SHAPE = {"tokens_seen": "nat", "schedule": {"step_count": "nat"}, "data_streams": "pos",
                 "world_size": "pos", "layout": {"dp_shard": "pos", "ep": "pos"}, "skipped_steps": "nat"}
LOADER_SHAPE = {"states": MapOf({"reader": {"epoch": "nat", "shard": "nat", "row": "nat"}, "window": "nat",
                                 "batch": "nat"}),
                "next_role": "nat", "num_workers": "nat", "world_size": "pos", "rank": "nat"}
RANK_SHAPE = {"rng": {"torch": str, "python": ("nat", ListOf("nat"), Maybe(float)), "cuda": ListOf(str)},
              "data": MapOf(LOADER_SHAPE)}


def nonfinite_tensor(model: torch.nn.Module, optimizer: torch.optim.Optimizer, dims: ParallelDims) -> str | None:
    """The name of a parameter, buffer or optimizer state with a NaN or inf on any rank, or None (collective)."""
    named = [*model.named_parameters(), *model.named_buffers()]
    named += [(f"optimizer state {k} of {n}", v) for n, p in model.named_parameters()
              for k, v in optimizer.state.get(p, {}).items() if isinstance(v, torch.Tensor) and k != "step"]
    local = [(n, t.to_local() if hasattr(t, "to_local") else t) for n, t in named if t.is_floating_point()]
    ok = torch.stack([torch.isfinite(t).all() for _, t in local]).all() if local else torch.tensor(True)
    bad = None if bool(ok) else next(n for n, t in local if not bool(torch.isfinite(t).all()))
    if dims.distributed:
        everyone: list = [None] * dims.world_size
        dist.all_gather_object(everyone, bad)
        bad = next((f"{b} (rank {r})" for r, b in enumerate(everyone) if b), None)
    return bad


def _metrics_step(line: str) -> float:
    """The step of a metrics line; a damaged line (a crash mid-write) counts as after any step, so it is dropped."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf
    return step if isinstance(step, int) else math.inf


class Trainer:
    def __init__(self, cfg: JobConfig, data: str | Path, out_dir: str | Path, resume: bool = False,
                 on_step_end: Callable[[int, dict], None] | None = None):
        self.cfg, self.out_dir, self.on_step_end = cfg, Path(out_dir), on_step_end
        tokenizer = shard_tokenizer(data)  # the one the manifest records, or none; else refused here
        resolve_vocabulary(cfg.model, data)  # model.vocab_size / eos_id unset: the shards' tokenizer's
        self.dims: ParallelDims = init_distributed(cfg.train.device, cfg.parallel, cfg.model.moe.n_routed_experts)
        device = self.dims.device
        check_fits(cfg.model, device, self.dims.world_size, meta_init=cfg.parallel.meta_init)
        torch.manual_seed(cfg.train.seed)
        self.model: Transformer = build_model(cfg.model, self.dims, cfg.train.compile, cfg.train.bf16,
                                              cfg.parallel.meta_init, seed=cfg.train.seed)
        self.module = self.model
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.schedule = WSDSchedule(self.optimizer, cfg.optim, cfg.train.steps)
        self.ckpt_dir = self.out_dir / "checkpoints"
        resume_from = checkpoint.newest_intact(self.ckpt_dir, TRAINER_SHAPE, RANK_SHAPE,
                                               "sluice train: ") if resume else None
        if resume and resume_from is None:
            raise FileNotFoundError(f"--resume: no complete saved state under {self.ckpt_dir}")
        saved_streams = checkpoint.read_trainer_state(resume_from)["data_streams"] if resume_from else 0
        self.n_streams = saved_streams or cfg.parallel.data_streams or self.dims.world_size
        if self.n_streams % self.dims.world_size:
            raise ConfigError(f"{self.n_streams} data streams do not split evenly over {self.dims.world_size} ranks "
                              "(parallel.data_streams, or the count saved by the run being resumed)")
        self.streams = list(range(self.dims.rank, self.n_streams, self.dims.world_size))
        self.loaders = [ShardLoader(data, cfg.data, cfg.model.max_seq_len, s, self.n_streams, cfg.model.vocab_size,
                                    pin_memory=device.type == "cuda") for s in self.streams]
        self.recompute = build_recompute_policy(cfg, self.model, device, RankCollectives(self.dims))
        self.autocast = device.type == "cuda" and cfg.train.bf16
        self.peak_flops = peak_flops(device, cfg.train.peak_flops)
        self.step, self.tokens_seen = 0, 0
        self.skipped_steps, self.nonfinite_in_row = 0, 0  # steps skipped for a non-finite loss or gradient norm
        self.metrics_path = self.out_dir / "metrics.jsonl"
        checkpoint.clean_stale(self.ckpt_dir)
        if resume_from is not None:
            self._resume(resume_from)
        elif checkpoint.complete_states(self.ckpt_dir):
            raise FileExistsError(f"{self.out_dir} already holds saved training states: pass --resume to continue "
                                  "that run, or choose another --out")
        elif self.dims.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.metrics_path.write_text("")
        if self.dims.is_main:
            (self.out_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2))
            if tokenizer is not None:  # the exported model ships the tokenizer its data was made with
                write_tokenizer(tokenizer, self.out_dir)

    # --- the loop --------------------------------------------------------------------------------------------
    def train(self) -> list[dict]:
        history, start = [], time.perf_counter()
        streams = [iter(loader) for loader in self.loaders]
        while self.step < self.cfg.train.steps:
            metrics = self.train_step([next(s) for s in streams])
            metrics["elapsed_s"] = round(time.perf_counter() - start, 3)
            history.append(metrics)
            self._log(metrics)
            if self.nonfinite_in_row >= self.cfg.train.max_nonfinite_steps:
                raise NonFiniteError(
                    f"step {self.step}: loss {metrics['loss']}, gradient norm {metrics['grad_norm']}: "
                    f"{self.nonfinite_in_row} steps in a row with a non-finite loss or gradient norm, skipped "
                    f"without an update (train.max_nonfinite_steps={self.cfg.train.max_nonfinite_steps}); the "
                    f"weights are those of step {self.step - self.nonfinite_in_row}. Lower optim.lr or check the data")
            if saved.should_save(self.step, self.cfg.train.steps, self.cfg.save.every, self.cfg.save.at_end):
                self.save()
            if self.on_step_end is not None:
                self.on_step_end(self.step, metrics)
        return history

    def train_step(self, micro_batches: list[dict[str, torch.Tensor]]) -> dict:
        """One optimizer step over this rank's micro-batches (one per data stream it reads)."""
        t0 = time.perf_counter()
        device = self.dims.device
        batches = [(b["input_ids"].to(device, non_blocking=True), b["labels"].to(device, non_blocking=True),
                    _padding_mask(b, device)) for b in micro_batches]
        B, S = max((inp.shape for inp, _, _ in batches), key=lambda s: (s[0] * s[1], s[1]))

        counts = torch.stack([torch.stack([(lab != IGNORE_INDEX).sum(), torch.tensor(lab.numel(), device=device)])
                              for _, lab, _ in batches]).sum(dim=0)
        n_global, padded = self._all_reduce(counts)
        for moe in self.model.moe_layers():  # each micro-batch's balance loss counts 1/len, like its main loss
            moe.aux_loss_scale = 1.0 / len(batches)
        loss_sum, mem_peak, plan_metrics = 0, 0, {}
        for inp, lab, mask in batches:
            # a plan per micro-batch, as the planner measures and predicts one batch shape at a time, so its peak
            # is measured per micro-batch too; one plan for all ranks, since a recomputed MoE block re-runs
            # collectives in backward that every rank must join
            t_micro = time.perf_counter()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            plan = self.recompute.plan((inp.shape[0], inp.shape[1]))
            self.model.set_recompute_plan(agree_recompute_plan(plan, self.dims))
            loss_sum = loss_sum + self.forward_backward(inp, lab, n_global, mask)
            mem_peak = max(mem_peak, memory_bytes(device))
            plan_metrics = {"step_time_s": time.perf_counter() - t_micro}
            self.recompute.after_step(plan_metrics)  # before the optimizer step, whose memory no plan changes
        plan_metrics.pop("step_time_s")
        grad_norm = clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip or math.inf, self.dims)
        lr = self.schedule.lr
        loss = float(self._all_reduce(loss_sum.detach()) / n_global)
        # the loss is all-reduced and the gradient norm global, so every rank takes the same branch
        finite = math.isfinite(loss) and math.isfinite(float(grad_norm))
        if finite:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()  # a skipped step still counts: the schedule stays a function of the step number
        if finite:
            # routing bias moves after the optimizer step, from the load this step observed (all ranks summed)
            load = update_expert_biases(self.model.moe_layers(), all_reduce=self.dims.distributed)
            self.nonfinite_in_row = 0
        else:  # no update from a step that saw non-finite numbers: its routing statistics are dropped too
            for moe in self.model.moe_layers():
                moe.router.tokens_per_expert.zero_()
                moe.router.bias_step_sum.zero_()
            load = {}
            self.skipped_steps += 1
            self.nonfinite_in_row += 1
        tokens = int(n_global)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        self.step += 1
        self.tokens_seen += tokens
        flops = flops_per_token(self.model, S) * tokens
        metrics = {"step": self.step, "loss": loss, "lr": lr, "grad_norm": float(grad_norm),
                   "skipped": not finite, "skipped_steps": self.skipped_steps,
                   "tokens": tokens, "batch_shape": [B, S],
                   "pad_frac": round(1 - tokens / int(padded), 4),
                   "tokens_per_s": round(tokens / dt, 1), "tflops_per_s": round(flops / dt / 1e12, 4),
                   "mfu": round(flops / dt / (self.peak_flops * self.dims.world_size), 4) if self.peak_flops else None,
                   "step_time_s": round(dt, 4), "tokens_seen": self.tokens_seen,
                   "mem_bytes": max(mem_peak, memory_bytes(device)),
                   "recomputed_blocks": sum(self.model.recompute_plan), **load, **plan_metrics}
        return metrics

    def forward_backward(self, inputs_BS: torch.Tensor, labels_BS: torch.Tensor, n_global: torch.Tensor,
                         mask_BS: torch.Tensor | None = None) -> torch.Tensor:
        """Backpropagates the mean loss over all ranks' real tokens; returns this rank's summed loss.

        DDP averages gradients over ranks, so each rank scales its token-summed loss by world_size / n_global:
        a rank with more real tokens in its batch then weighs more, as it would in one big batch."""
        with torch.autocast(device_type=inputs_BS.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss_sum = self.module(inputs_BS, labels_BS, mask_BS)
        (loss_sum * (self.dims.world_size / n_global)).backward()
        return loss_sum

    def _all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.dims.distributed:
            dist.all_reduce(t)
        return t

    # --- saved state -----------------------------------------------------------------------------------------
    def save(self) -> None:
        bad = nonfinite_tensor(self.model, self.optimizer, self.dims)
        if bad:  # a finite loss can still leave inf weights behind (a huge learning rate): never save those
            raise NonFiniteError(f"step {self.step}: {bad} is not finite; not saved (the newest saved state under "
                                 f"{self.ckpt_dir} is from before)")
        trainer_state = {"step": self.step, "tokens_seen": self.tokens_seen, "schedule": self.schedule.state_dict(),
                         "data_streams": self.n_streams, "world_size": self.dims.world_size,
                         "layout": {"dp_shard": self.dims.dp_shard, "ep": self.dims.ep},
                         "skipped_steps": self.skipped_steps}
        data = {str(s): loader.state_dict() for s, loader in zip(self.streams, self.loaders, strict=True)}
        rank_state = {"rank": self.dims.rank, "rng": saved.rng_state(), "data": data}
        checkpoint.save(self.ckpt_dir, self.step, self.model, self.optimizer, trainer_state, rank_state,
                        self.cfg.save.keep_latest)

    def _resume(self, path: Path) -> None:
        state = checkpoint.read_trainer_state(path, TRAINER_SHAPE)  # shapes checked by newest_intact already
        ranks = checkpoint.read_rank_states(path, RANK_SHAPE)
        data = {s: sd for r in ranks for s, sd in r["data"].items()}
        if sorted(data) != sorted(map(str, range(self.n_streams))) or state["schedule"]["step_count"] != state["step"]:
            raise CheckpointError(f"{path}: the rank files hold data streams {sorted(data)} and the schedule is at "
                                  f"{state['schedule']['step_count']}; {checkpoint.TRAINER_FILE} says "
                                  f"{self.n_streams} streams at step {state['step']}")
        checkpoint.load(path, self.model, self.optimizer, checked=True)
        try:
            self.schedule.load_state_dict(state["schedule"])
            for s, loader in zip(self.streams, self.loaders, strict=True):
                loader.load_state_dict(data[str(s)])
            if state["world_size"] == self.dims.world_size:  # RNG streams belong to ranks; another layout: afresh
                saved.set_rng_state(ranks[self.dims.rank]["rng"])
        except (ValueError, RuntimeError) as e:  # well-formed JSON with values that do not fit this run
            raise CheckpointError(f"{path}: {e}") from None
        self.step, self.tokens_seen = state["step"], state["tokens_seen"]
        self.skipped_steps = state["skipped_steps"]
        if self.dims.is_main:
            self._truncate_metrics(self.step)
            print(f"resumed from {path} at step {self.step}", file=sys.stderr)

    def _truncate_metrics(self, step: int) -> None:
        """Drops metric lines of steps after the resumed one (the killed run's tail), atomically."""
        lines = self.metrics_path.read_text().splitlines() if self.metrics_path.exists() else []
        kept = [ln for ln in lines if _metrics_step(ln) <= step]
        tmp = self.metrics_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(ln + "\n" for ln in kept))
        os.replace(tmp, self.metrics_path)

    # --- output ----------------------------------------------------------------------------------------------
    def _log(self, m: dict) -> None:
        if not self.dims.is_main:
            return
        with open(self.metrics_path, "a") as f:  # strict JSON: a skipped step's NaN loss is written as null
            f.write(json.dumps({k: None if isinstance(v, float) and not math.isfinite(v) else v
                                for k, v in m.items()}) + "\n")
        if m["step"] % self.cfg.train.log_every == 0 or m["step"] == self.cfg.train.steps:
            total = self.cfg.train.steps
            done = m["step"] / total
            bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
            eta = m["step_time_s"] * (total - m["step"])
            mfu = f" | mfu {m['mfu']:.1%}" if m["mfu"] is not None else ""
            print(f"[{bar}] step {m['step']}/{total} | loss {m['loss']:.4f} | lr {m['lr']:.2e} | "
                  f"{m['tokens_per_s']:,.0f} tok/s{mfu} | load {m.get('load_imbalance', 1.0):.2f} | "
                  f"mem {m['mem_bytes'] / 2**30:.2f} GiB | eta {eta:.0f}s", flush=True)


def train(cfg: JobConfig, data: str | Path, out_dir: str | Path, resume: bool = False,
          on_step_end: Callable[[int, dict], None] | None = None) -> list[dict]:
    return Trainer(cfg, data, out_dir, resume=resume, on_step_end=on_step_end).train()
