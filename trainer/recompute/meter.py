"""The activation meter: per block, the bytes of tensors autograd saves for backward (distinct storages,
parameters excluded, counted with saved_tensors_hooks) and the forward time, for one step at a time.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.autograd.graph import saved_tensors_hooks

from trainer.model import Transformer
from trainer.moe import in_recompute
from trainer.recompute.laws import Shape


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
        if key in self.exclude or key in self.storages or _is_parameter(t):
            return
        self.storages[key] = storage
        self.bytes += nbytes


def _is_parameter(t: torch.Tensor) -> bool:
    """A parameter or a view of one. Under FSDP the parameters used in forward are unsharded copies swapped in
    after start() listed the storages to exclude, so they are recognised here instead."""
    return isinstance(t, torch.nn.Parameter) or isinstance(t._base, torch.nn.Parameter)


def _storage_ptr(t: torch.Tensor) -> int | None:
    local = t.to_local() if hasattr(t, "to_local") else t  # a sharded (DTensor) parameter: its local shard
    try:
        return local.untyped_storage().data_ptr()
    except RuntimeError:  # a freed storage (an FSDP-resharded parameter)
        return None


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
        exclude = {_storage_ptr(t) for t in itertools.chain(self.model.parameters(), self.model.buffers())}
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
        if read_times and self._events:
            torch.cuda.synchronize()  # a micro-batch's events may still be queued behind its backward
        for i, (start, end) in self._events.items() if read_times else ():
            self._m.block_seconds[i] = start.elapsed_time(end) / 1e3
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
            if in_recompute():  # backward re-running a checkpointed block: counted in forward already
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
            if i not in self._active or in_recompute():
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

