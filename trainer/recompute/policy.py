"""Recompute policies: what the training loop asks, before each step, for the blocks to recompute.

    FixedRecompute        modes `none` and `full`: the same plan for every shape
    InputAwareRecompute   modes `static` and `mimose`: collects during the first steps under full recompute, fits
                          shape laws, caches one plan per bucketed shape, measures again when a shape falls outside
                          the measured range (`static`: one plan, for the largest shape the loader can form)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from trainer.model import Transformer
from trainer.recompute.laws import Shape, ShapeLaw, poly_features, residual_features
from trainer.recompute.meter import ActivationMeter, StepMeasurement
from trainer.recompute.planner import PlanChoice, choose_recompute


class RecomputePolicy(Protocol):
    """Chooses which blocks recompute their activations for the next step, from the batch shape (B, S)."""

    def plan(self, batch_shape: tuple[int, int]) -> Sequence[bool]: ...

    def after_step(self, metrics: dict) -> None: ...


class RankGroup(Protocol):
    """The two collectives planning needs: is a flag true on every rank; every rank's list of floats."""

    def all(self, flag: bool) -> bool: ...

    def gather(self, values: list[float]) -> list[list[float]]: ...


class OneRank:
    def all(self, flag: bool) -> bool:
        return bool(flag)

    def gather(self, values: list[float]) -> list[list[float]]:
        return [list(values)]


class FixedRecompute:
    def __init__(self, n_blocks: int, recompute: bool):
        self._plan = [recompute] * n_blocks

    def plan(self, batch_shape: tuple[int, int]) -> Sequence[bool]:
        return self._plan

    def after_step(self, metrics: dict) -> None:
        pass


def resolve_budget(rc, device: torch.device) -> tuple[float, str]:
    """(budget in bytes, scope) from [recompute] budget / budget_scope; math.inf means no limit."""
    scope = rc.budget_scope if rc.budget_scope != "auto" else ("device" if device.type == "cuda" else "activations")
    if scope == "device" and device.type != "cuda":
        raise ValueError("recompute.budget_scope='device' needs a CUDA device (on CPU use 'activations')")
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    if rc.budget > 1:
        return float(rc.budget), scope
    if rc.budget > 0 and total is None:
        raise ValueError(f"recompute.budget={rc.budget} is a fraction of device memory, which a CPU run "
                         "does not have: give the budget in bytes")
    if total is None:
        return math.inf, scope
    return (rc.budget or 0.9) * total, scope


@dataclass(slots=True)
class _Step:
    shape: Shape
    kind: str  # collect | cache | new | static
    plan: tuple[bool, ...]
    predicted: float | None
    fixed: float
    plan_ns: int


@dataclass(slots=True)
class PlannerStats:
    steps: int = 0
    collect_steps: int = 0
    cache_hits: int = 0
    plans_made: int = 0
    plan_ns: int = 0
    step_s: float = 0.0
    errors: list[float] = field(default_factory=list)  # |predicted - measured| / measured of planned steps
    unseen_errors: list[float] = field(default_factory=list)  # those of shapes no collection step measured


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t


class InputAwareRecompute:
    """The recompute policy of modes `mimose` (a plan per shape) and `static` (one plan, for `largest_shape`)."""

    def __init__(self, rc, model: Transformer, device: torch.device, largest_shape: Shape, static: bool = False,
                 ranks: RankGroup | None = None):
        self.rc, self.model, self.device, self.static = rc, model, torch.device(device), static
        # the ranks plan together: they collect on the same micro-batches (any rank meeting an unmeasured shape
        # makes all of them collect, as that forces full recompute on all anyway) and share every measurement,
        # so each holds the same laws, ranges and plans, and none keeps the others in full recompute
        self.ranks = ranks or OneRank()
        self.largest_shape = largest_shape
        self.budget, self.scope = resolve_budget(rc, self.device)
        if math.isinf(self.budget):
            warnings.warn("recompute: no budget (a CPU run with budget = 0): every plan keeps every block; "
                          "give [recompute] budget in bytes", stacklevel=2)
        self.n_blocks = len(model.layers)
        self.meter = ActivationMeter(model)
        features = poly_features(rc.poly_degree)
        self.kept_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.input_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.time_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.residual_law = ShapeLaw(residual_features)
        self.fitted = False
        self.cache: dict[Shape, PlanChoice] = {}
        # this rank's gradient bytes: under FSDP a parameter is a DTensor whose numel() is the global one
        self.grad_bytes = sum(_local(p).numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        self.fixed_bytes = 0.0
        self.stats = PlannerStats()
        self._step: _Step | None = None
        self._range = (math.inf, 0.0, math.inf, 0.0)  # measured T min/max, S min/max

    def plan(self, batch_shape: tuple[int, int]) -> list[bool]:
        t0 = time.perf_counter_ns()
        shape = (int(batch_shape[0]), int(batch_shape[1]))
        if self.scope == "device":  # params, optimizer state and the batch; grads come during backward, unless
            # an earlier micro-batch of this step has already accumulated them
            grads = 0 if any(p.grad is not None for p in self.model.parameters()) else self.grad_bytes
            self.fixed_bytes = max(self.fixed_bytes, torch.cuda.memory_allocated(self.device) + grads)
        need = not self.fitted or (not self.static and not self._covers(shape))
        if not self.ranks.all(not need):
            plan, kind, predicted = (True,) * self.n_blocks, "collect", None
        else:
            key = self.largest_shape if self.static else self._bucket(shape)
            choice = self.cache.get(key)
            kind = "static" if self.static else "cache"
            if choice is None:
                choice = self.cache[key] = self.choose(key)
                kind, self.stats.plans_made = "new", self.stats.plans_made + 1
                if not choice.fits:
                    warnings.warn(f"recompute planner: shape {key} does not fit the budget of {self.budget:.3g} "
                                  f"bytes even with every block recomputed (predicted {choice.peak_bytes:.3g})",
                                  stacklevel=2)
            self.stats.cache_hits += kind in ("cache", "static")
            plan, predicted = choice.recompute, choice.peak_bytes
        if kind == "collect":
            self.meter.start(shape)
        ns = time.perf_counter_ns() - t0  # planning time: verification below is not part of it
        if kind != "collect" and self.rc.verify_every and self.stats.steps % self.rc.verify_every == 0:
            self.meter.start(shape)
        self._step = _Step(shape, kind, plan, predicted, self.fixed_bytes if self.scope == "device" else 0.0, ns)
        return list(plan)

    def after_step(self, metrics: dict) -> None:
        step, self._step = self._step, None
        if step is None:
            return
        step.plan = tuple(self.model.recompute_plan)  # what ran: under torchrun, the plan all ranks agreed on
        m = self.meter.stop()
        measured = None
        if self.scope == "device":
            measured = float(torch.cuda.max_memory_allocated(self.device))
        elif m is not None:
            measured = float(m.peak_bytes(step.plan))
        st = self.stats
        st.steps += 1
        st.plan_ns += step.plan_ns
        st.step_s += float(metrics.get("step_time_s", 0.0))
        if step.kind == "collect":
            self._record(step, m, measured)
        elif step.predicted is not None:  # the plan was made for the bucket's largest shape: predict this one
            step.predicted = self.predict_peak(step.shape, step.plan)
            if measured:
                st.errors.append(abs(step.predicted - measured) / measured)
                if step.shape not in self.kept_laws[0].shapes:
                    st.unseen_errors.append(st.errors[-1])
        metrics.update({"recompute_plan": "".join("R" if r else "." for r in step.plan), "plan_source": step.kind,
                        "plan_time_us": round(step.plan_ns / 1e3, 1),
                        "predicted_mem_bytes": None if step.predicted is None else int(step.predicted),
                        "measured_mem_bytes": None if measured is None else int(measured)})

    def abort_step(self) -> None:
        """The step failed (out of memory): drop its measurement, keep everything learned before."""
        self.meter.stop(read_times=False)
        self._step = None

    def _record(self, step: _Step, m: StepMeasurement, measured: float | None) -> None:
        residual = math.nan
        if measured is not None:
            blocks = sum(i if r else a for a, i, r in zip(m.block_bytes, m.input_bytes, step.plan, strict=True))
            residual = measured - step.fixed - blocks - (m.peak_bytes(step.plan) - m.kept_bytes)
        n = self.n_blocks
        for row in self.ranks.gather([*step.shape, residual, *m.block_bytes, *m.input_bytes, *m.block_seconds]):
            shape = (int(row[0]), int(row[1]))
            for i in range(n):
                self.kept_laws[i].add(shape, row[3 + i])
                self.input_laws[i].add(shape, row[3 + n + i])
                self.time_laws[i].add(shape, row[3 + 2 * n + i])
            if not math.isnan(row[2]):
                self.residual_law.add(shape, row[2])
            T, S = shape[0] * shape[1], shape[1]
            t_lo, t_hi, s_lo, s_hi = self._range
            self._range = (min(t_lo, T), max(t_hi, T), min(s_lo, S), max(s_hi, S))
        self.stats.collect_steps += 1
        n_shapes = len(self.kept_laws[0].shapes)
        enough = self.stats.collect_steps >= self.rc.collect_steps and n_shapes >= self.rc.poly_degree + 1
        self.fitted = self.fitted or enough or self.stats.collect_steps >= self.rc.collect_max_steps
        self.cache.clear()  # the laws changed: plans made from the old ones are stale

    def _covers(self, shape: Shape) -> bool:
        B, S = self._bucket(shape)
        t_lo, t_hi, s_lo, s_hi = self._range
        k = 1 + self.rc.range_slack
        return t_lo / k <= B * S <= t_hi * k and s_lo / k <= S <= s_hi * k

    def _bucket(self, shape: Shape) -> Shape:
        """The plan for a bucket is made for its largest shape, so it is safe for every shape in it."""
        bb, sb = self.rc.batch_bucket, self.rc.seq_bucket
        return (-(-shape[0] // bb) * bb, -(-shape[1] // sb) * sb)

    # --- prediction -------------------------------------------------------------------------------------------
    def predict_blocks(self, shape: Shape) -> tuple[list[float], list[float], list[float]]:
        return ([law.predict(shape) for law in self.kept_laws], [law.predict(shape) for law in self.input_laws],
                [law.predict(shape) for law in self.time_laws])

    def _fixed_and_residual(self, shape: Shape) -> float:
        residual = self.residual_law.predict(shape) if self.residual_law.shapes else 0.0
        return (self.fixed_bytes if self.scope == "device" else 0.0) + residual

    def choose(self, shape: Shape) -> PlanChoice:
        kept, inputs, cost = self.predict_blocks(shape)
        budget = self.budget * (1 - self.rc.margin)
        return choose_recompute(kept, inputs, cost, self._fixed_and_residual(shape), budget,
                                self.rc.exact_max_blocks)

    def predict_peak(self, shape: Shape, plan: Sequence[bool]) -> float:
        kept, inputs, _ = self.predict_blocks(shape)
        work = [a - i for a, i, r in zip(kept, inputs, plan, strict=True) if r]
        blocks = sum(i if r else a for a, i, r in zip(kept, inputs, plan, strict=True))
        return self._fixed_and_residual(shape) + blocks + max(max(work, default=0.0), 0.0)

    def summary(self) -> dict:
        st = self.stats
        held_out = [e for e in (law.held_out_error() for law in self.kept_laws) if e is not None]
        return {"steps": st.steps, "collect_steps": st.collect_steps, "plans_made": st.plans_made,
                "cache_hits": st.cache_hits, "mean_plan_time_us": st.plan_ns / 1e3 / max(st.steps, 1),
                "planning_overhead": st.plan_ns / 1e9 / st.step_s if st.step_s else None,
                "prediction_error": float(np.mean(st.errors)) if st.errors else None,
                "prediction_error_max": float(np.max(st.errors)) if st.errors else None,
                "prediction_error_unseen": float(np.mean(st.unseen_errors)) if st.unseen_errors else None,
                "held_out_block_error": float(np.mean(held_out)) if held_out else None,
                "budget_bytes": self.budget, "budget_scope": self.scope}


def largest_shape(cfg) -> Shape:
    """The largest batch the loader can form: `tokens_per_batch` tokens of the longest sequences."""
    S = cfg.seq_len
    return (max(1, cfg.data.tokens_per_batch // S), S)

def build_recompute_policy(cfg, model: Transformer, device: torch.device,
                           ranks: RankGroup | None = None) -> RecomputePolicy:
    """The policy of [recompute] mode for this model: the training loop's one entry point. `ranks`: the
    collectives the ranks plan together with (trainer/parallelize.py's RankCollectives); None on one process."""
    mode = cfg.recompute.mode
    if mode in ("none", "full"):
        return FixedRecompute(len(model.layers), mode == "full")
    return InputAwareRecompute(cfg.recompute, model, device, largest_shape(cfg), static=mode == "static",
                               ranks=ranks)
