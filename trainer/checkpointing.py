"""Input-aware activation checkpointing (Mimose, arXiv 2209.02478): which blocks recompute, chosen per batch shape.

Batch shapes vary from step to step (sequences are not packed), so one fixed plan either recomputes for the
largest shape all the time or runs out of memory on it. This module plans per shape, online:

    ActivationMeter       collection: per block, the bytes of tensors autograd saves for backward (distinct
                          storages, parameters excluded, counted with saved_tensors_hooks) and the forward time
    ShapeLaw              predictor: least squares y(B, S) over tokens T = B*S, T*S (attention) and a constant
    choose_recompute      planner: the blocks to recompute so the predicted peak fits the budget at the least
                          predicted recompute time (exhaustive for small block counts, greedy by bytes/second)
    InputAwareRecompute   the trainer's recompute policy (modes `static` and `mimose`): collects during the first
                          steps under full recompute, fits, caches one plan per bucketed shape, measures again
                          when a shape falls outside the measured range

Memory model of a plan R (the set of recomputed blocks), for block i with kept bytes A_i and input bytes I_i:
    peak = fixed + residual(T) + sum_{i not in R} A_i + sum_{i in R} I_i + max_{i in R} (A_i - I_i) + margin
`fixed` is params + grads + optimizer state on the device (0 when the budget counts activations only); a
recomputed block keeps only its input, and while it is recomputed in backward its activations exist again
(the working set). `residual` is everything else: embedding, loss chunks and, on CUDA, what the allocator
holds beyond saved tensors; it is fitted from the measured peaks of the collection steps.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

from trainer.model import LOSS_CHUNK_TOKENS, Transformer
from trainer.moe import _in_recompute

Shape = tuple[int, int]  # (batch B, sequence S)


# --- predictor ---------------------------------------------------------------------------------------------------

def poly_features(degree: int) -> Callable[[int, int], list[float]]:
    """[T, 1, T*S, T*S^2, ...] up to `degree`, most important first: fewer distinct shapes than features fit
    only a prefix (one shape: bytes proportional to tokens; two: affine in tokens)."""
    def features(B: int, S: int) -> list[float]:
        T = float(B * S)
        return [T, 1.0] + [T * float(S) ** k for k in range(1, degree)]
    return features


def residual_features(B: int, S: int) -> list[float]:
    """Memory outside the blocks: constant, the loss's logits (one chunk of at most LOSS_CHUNK_TOKENS tokens
    exists at once) and per-token tensors such as the embedding output."""
    T = float(B * S)
    return [1.0, min(T, float(LOSS_CHUNK_TOKENS)), T]


class ShapeLaw:
    """y(B, S) by least squares over features of the shape; samples of one shape are averaged."""

    def __init__(self, features: Callable[[int, int], list[float]]):
        self.features = features
        self._samples: dict[Shape, list[float]] = {}
        self._coef: np.ndarray | None = None

    def add(self, shape: Shape, y: float) -> None:
        self._samples.setdefault(shape, []).append(float(y))
        self._coef = None

    @property
    def shapes(self) -> list[Shape]:
        return sorted(self._samples)

    def _fit(self, shapes: Sequence[Shape]) -> np.ndarray:
        X = np.array([self.features(*s) for s in shapes], dtype=np.float64)
        X = X[:, :min(len(shapes), X.shape[1])]
        y = np.array([np.mean(self._samples[s]) for s in shapes])
        scale = np.abs(X).max(axis=0)  # columns span 1 .. 1e9: scale them for a well-conditioned solve
        scale[scale == 0] = 1.0
        coef, *_ = np.linalg.lstsq(X / scale, y, rcond=None)
        return coef / scale

    def predict(self, shape: Shape) -> float:
        if not self._samples:
            raise ValueError("ShapeLaw.predict before any sample")
        if self._coef is None:
            self._coef = self._fit(self.shapes)
        x = np.array(self.features(*shape)[:len(self._coef)])
        return max(0.0, float(x @ self._coef))

    def held_out_error(self) -> float | None:
        """Mean relative error predicting each measured shape from a fit on all the other shapes."""
        shapes = self.shapes
        errors = []
        for i, s in enumerate(shapes):
            truth = float(np.mean(self._samples[s]))
            if len(shapes) < 2 or truth <= 0:
                continue
            coef = self._fit(shapes[:i] + shapes[i + 1:])
            pred = max(0.0, float(np.array(self.features(*s)[:len(coef)]) @ coef))
            errors.append(abs(pred - truth) / truth)
        return float(np.mean(errors)) if errors else None


# --- planner -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PlanChoice:
    recompute: tuple[bool, ...]
    peak_bytes: float  # predicted, margin excluded
    cost_s: float  # predicted recompute time
    fits: bool


_MASKS: dict[int, np.ndarray] = {}


def _all_subsets(n: int) -> np.ndarray:
    if n not in _MASKS:
        _MASKS[n] = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
    return _MASKS[n]


def choose_recompute(kept: Sequence[float], inputs: Sequence[float], cost: Sequence[float], fixed: float,
                     budget: float, exact_max_blocks: int = 16) -> PlanChoice:
    """The cheapest set of blocks to recompute whose predicted peak (see the module docstring) is <= budget.

    Only blocks that save memory are candidates. Up to `exact_max_blocks` candidates every subset is scored
    (vectorised: 2^16 subsets take a few ms); beyond, for each bound W on the recompute working set, blocks whose
    saving is <= W are taken by saved bytes per recompute second until the plan fits, then redundant ones are
    dropped. When nothing fits, every candidate is recomputed (the lowest peak) and `fits` is False.
    """
    kept_a, inputs_a, cost_a = (np.asarray(v, dtype=np.float64) for v in (kept, inputs, cost))
    saved_a = np.clip(kept_a - inputs_a, 0.0, None)
    base = fixed + float(kept_a.sum())
    useful = [i for i in range(len(kept_a)) if saved_a[i] > 0]

    def result(chosen: Sequence[int]) -> PlanChoice:
        s = saved_a[list(chosen)]
        peak = base - float(s.sum()) + (float(s.max()) if len(s) else 0.0)
        return PlanChoice(tuple(i in set(chosen) for i in range(len(kept_a))), peak,
                          float(cost_a[list(chosen)].sum()), peak <= budget)

    if base <= budget or not useful:
        return result([])
    if len(useful) <= exact_max_blocks:
        masks = _all_subsets(len(useful))
        s = saved_a[useful]
        peak = base - masks @ s + (masks * s).max(axis=1)
        total_cost = masks @ cost_a[useful]
        # cheapest feasible; ties broken by lower peak, then by mask order (earlier blocks: their recompute
        # happens late in backward, when most other activations are already freed)
        key = np.where(peak <= budget, total_cost, np.inf)
        best = np.lexsort((peak, key))[0]
        if not np.isfinite(key[best]):
            best = int(np.argmin(peak))
        return result([useful[j] for j in np.flatnonzero(masks[best])])
    return _greedy(useful, saved_a, cost_a, base, budget, result)


def _greedy(useful, saved_a, cost_a, base, budget, result) -> PlanChoice:
    by_ratio = sorted(useful, key=lambda i: (-saved_a[i] / max(cost_a[i], 1e-12), i))
    best: PlanChoice | None = None
    for bound in sorted({float(saved_a[i]) for i in useful}):
        chosen: list[int] = []
        for i in by_ratio:
            if saved_a[i] <= bound and not result(chosen).fits:
                chosen.append(i)
        if not result(chosen).fits:
            continue
        for i in reversed(list(chosen)):  # worst ratio first: drop what the fit no longer needs
            if result([j for j in chosen if j != i]).fits:
                chosen.remove(i)
        c = result(chosen)
        if best is None or (c.cost_s, c.peak_bytes) < (best.cost_s, best.peak_bytes):
            best = c
    return best if best is not None else result(useful)


# --- collection --------------------------------------------------------------------------------------------------

class _StorageCounter:
    """Bytes of distinct storages among saved tensors. Holds each storage until dropped, so an address freed
    inside a recomputed block and reused by a later tensor is not mistaken for the same storage."""

    def __init__(self, exclude: set[int]):
        self.exclude, self.storages, self.bytes = exclude, {}, 0

    def add(self, t: torch.Tensor) -> None:
        try:
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensor subclasses without a plain storage
            storage, key, nbytes = None, id(t), t.numel() * t.element_size()
        if key in self.exclude or key in self.storages:
            return
        self.storages[key] = storage
        self.bytes += nbytes


def _counting_hooks(counter: _StorageCounter) -> saved_tensors_hooks:
    """Counts each saved tensor, then hands it to whatever hooks were active (torch.utils.checkpoint's, when the
    block is recomputed) so counting never changes what autograd keeps."""
    outer = torch._C._autograd._top_saved_tensors_default_hooks(False)

    def pack(t: torch.Tensor):
        counter.add(t)
        return outer[0](t) if outer else t.detach()

    def unpack(packed):
        return outer[1](packed) if outer else packed

    return saved_tensors_hooks(pack, unpack)


@dataclass(slots=True)
class StepMeasurement:
    shape: Shape
    block_bytes: list[int]  # A_i: what block i keeps for backward when not recomputed (its input included)
    input_bytes: list[int]  # I_i: what it keeps when recomputed
    block_seconds: list[float]  # forward time: the cost of recomputing it
    kept_bytes: int = 0  # what the step really kept under its plan (all saved tensors, distinct storages)

    def peak_bytes(self, plan: Sequence[bool]) -> int:
        """Saved-activation peak of the step: all it kept plus the largest recompute working set."""
        work = [a - i for a, i, r in zip(self.block_bytes, self.input_bytes, plan, strict=True) if r]
        return self.kept_bytes + max(work, default=0)


class ActivationMeter:
    """Measures one step: `start()` before forward, `stop()` after backward. Hooks exist only in between."""

    def __init__(self, model: Transformer):
        self.model, self.blocks = model, list(model.layers)
        self._handles: list = []
        self._cuda = next(model.parameters()).is_cuda

    @property
    def running(self) -> bool:
        return bool(self._handles)

    def start(self, shape: Shape) -> None:
        self.stop(read_times=False)
        exclude = {t.untyped_storage().data_ptr() for t in itertools.chain(self.model.parameters(),
                                                                          self.model.buffers())}
        n = len(self.blocks)
        self._m = StepMeasurement(shape, [0] * n, [0] * n, [0.0] * n)
        self._exclude, self._active, self._events = exclude, {}, {}
        self._handles.append(self.model.register_forward_pre_hook(self._model_pre))
        self._handles.append(self.model.register_forward_hook(self._model_post, always_call=True))
        for i, block in enumerate(self.blocks):
            self._handles.append(block.register_forward_pre_hook(self._block_pre(i)))
            self._handles.append(block.register_forward_hook(self._block_post(i), always_call=True))

    def stop(self, read_times: bool = True) -> StepMeasurement | None:
        """The step's measurement; `read_times=False` after a failed step, whose CUDA events may never complete."""
        if not self._handles:
            return None
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for i, (start, end) in self._events.items() if read_times else ():
            self._m.block_seconds[i] = start.elapsed_time(end) / 1e3  # the loop synchronised before after_step
        self._active.clear()
        return self._m

    def _model_pre(self, module, args) -> None:
        counter = _StorageCounter(self._exclude)
        ctx = _counting_hooks(counter)
        ctx.__enter__()
        self._active["model"] = (counter, ctx)

    def _model_post(self, module, args, output) -> None:
        counter, ctx = self._active.pop("model", (None, None))
        if ctx is not None:
            ctx.__exit__(None, None, None)
            self._m.kept_bytes = counter.bytes

    def _block_pre(self, i: int):
        def hook(module, args) -> None:
            if _in_recompute():  # backward re-running a checkpointed block: counted in forward already
                return
            counter = _StorageCounter(self._exclude)
            counter.add(args[0])
            self._m.input_bytes[i] = counter.bytes
            ctx = _counting_hooks(counter)
            ctx.__enter__()
            if self._cuda:
                start = torch.cuda.Event(enable_timing=True)
                start.record()
            else:
                start = time.perf_counter()
            self._active[i] = (counter, ctx, start)
        return hook

    def _block_post(self, i: int):
        def hook(module, args, output) -> None:
            if i not in self._active or _in_recompute():
                return
            counter, ctx, start = self._active.pop(i)
            ctx.__exit__(None, None, None)
            self._m.block_bytes[i] = counter.bytes
            if self._cuda:
                end = torch.cuda.Event(enable_timing=True)
                end.record()
                self._events[i] = (start, end)
            else:
                self._m.block_seconds[i] = time.perf_counter() - start
        return hook


# --- the policy ----------------------------------------------------------------------------------------------------

def resolve_budget(rc, device: torch.device) -> tuple[float, str]:
    """(budget in bytes, scope) from [checkpointing] budget / budget_scope; math.inf means no limit."""
    scope = rc.budget_scope if rc.budget_scope != "auto" else ("device" if device.type == "cuda" else "activations")
    if scope == "device" and device.type != "cuda":
        raise ValueError("checkpointing.budget_scope='device' needs a CUDA device (on CPU use 'activations')")
    total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None
    if rc.budget > 1:
        return float(rc.budget), scope
    if rc.budget > 0 and total is None:
        raise ValueError(f"checkpointing.budget={rc.budget} is a fraction of device memory, which a CPU run "
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


class InputAwareRecompute:
    """The recompute policy of modes `mimose` (a plan per shape) and `static` (one plan, for `largest_shape`)."""

    def __init__(self, rc, model: Transformer, device: torch.device, largest_shape: Shape, static: bool = False):
        self.rc, self.model, self.device, self.static = rc, model, torch.device(device), static
        self.largest_shape = largest_shape
        self.budget, self.scope = resolve_budget(rc, self.device)
        if math.isinf(self.budget):
            warnings.warn("checkpointing: no budget (a CPU run with budget = 0): every plan keeps every block; "
                          "give [checkpointing] budget in bytes", stacklevel=2)
        self.n_blocks = len(model.layers)
        self.meter = ActivationMeter(model)
        features = poly_features(rc.poly_degree)
        self.kept_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.input_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.time_laws = [ShapeLaw(features) for _ in range(self.n_blocks)]
        self.residual_law = ShapeLaw(residual_features)
        self.fitted = False
        self.cache: dict[Shape, PlanChoice] = {}
        self.grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
        self.fixed_bytes = 0.0
        self.stats = PlannerStats()
        self._step: _Step | None = None
        self._range = (math.inf, 0.0, math.inf, 0.0)  # measured T min/max, S min/max

    def plan(self, batch_shape: tuple[int, int]) -> list[bool]:
        t0 = time.perf_counter_ns()
        shape = (int(batch_shape[0]), int(batch_shape[1]))
        if self.scope == "device":  # params, optimizer state and the batch; grads come during backward
            self.fixed_bytes = max(self.fixed_bytes, torch.cuda.memory_allocated(self.device) + self.grad_bytes)
        if not self.fitted or (not self.static and not self._covers(shape)):
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
        shape = step.shape
        for i in range(self.n_blocks):
            self.kept_laws[i].add(shape, m.block_bytes[i])
            self.input_laws[i].add(shape, m.input_bytes[i])
            self.time_laws[i].add(shape, m.block_seconds[i])
        if measured is not None:
            blocks = sum(i if r else a for a, i, r in zip(m.block_bytes, m.input_bytes, step.plan, strict=True))
            self.residual_law.add(shape, measured - step.fixed - blocks - (m.peak_bytes(step.plan) - m.kept_bytes))
        T, S = shape[0] * shape[1], shape[1]
        t_lo, t_hi, s_lo, s_hi = self._range
        self._range = (min(t_lo, T), max(t_hi, T), min(s_lo, S), max(s_hi, S))
        self.stats.collect_steps += 1
        n_shapes = len(self.kept_laws[0].shapes)
        enough = self.stats.collect_steps >= self.rc.collect_steps and n_shapes >= self.rc.poly_degree + 1
        if enough or self.stats.collect_steps >= self.rc.collect_max_steps or self.fitted:
            self.fitted = True
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


def build_recompute_policy(cfg, model: nn.Module, device: torch.device) -> InputAwareRecompute:
    """trainer/loop.py's entry point for modes `static` and `mimose` (it handles `none` and `full` itself)."""
    mode = cfg.checkpointing.mode
    if mode not in ("static", "mimose"):
        raise ValueError(f"checkpointing.mode={mode!r} is not planned here")
    return InputAwareRecompute(cfg.checkpointing, model, device, largest_shape(cfg), static=mode == "static")
