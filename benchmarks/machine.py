"""Where a benchmark ran, in words, for the `machine` field of benchmarks/results/*.json."""

from __future__ import annotations

import os
import platform


def describe_machine(extra: str = "") -> str:
    """CPU model, core count and the load average at the time: these results come from shared machines."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return ", ".join(filter(None, [cpu, f"{os.cpu_count()} cores", extra, f"load average {load:.1f}"]))
