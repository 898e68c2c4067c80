"""Runs a test body on N CPU processes joined in one gloo process group (127.0.0.1, a free port).

The body is a module-level function `fn(rank, world_size, *args)`; it reports back by writing files (JSON, or
tensors with torch.save, read with weights_only=True). One group per call: a test file starts as few as it can.
"""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world_size: int, port: int, fn, args) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        fn(rank, world_size, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_on_ranks(world_size: int, fn, *args) -> None:
    """Raises if any rank fails (torch.multiprocessing re-raises the first error with its traceback).

    The ranks are forked from this process after it has imported what a Trainer needs (torch.optim pulls in
    torch._dynamo, ~5 s per fresh process): forking before any process group exists is safe with gloo, and the
    test process runs torch with one thread, so no OpenMP pool is copied half-way."""
    import torch._dynamo  # noqa: F401
    import torch.multiprocessing as mp
    import torch.optim  # noqa: F401

    import trainer.loop  # noqa: F401

    # SLUICE_TEST_START_METHOD=spawn: fresh interpreters (slower), should a library's threads ever make fork unsafe
    method = os.environ.get("SLUICE_TEST_START_METHOD", "fork")
    mp.start_processes(_entry, args=(world_size, free_port(), fn, args), nprocs=world_size, join=True,
                       start_method=method)
