#!/usr/bin/env bash
# The lent GPU's one command, from the repository root:  bash benchmarks/gpu_check.sh
# Writes $OUT/gpu_check.json (benchmarks/results/gpu_check.json when OUT is unset) and a log beside it.
set -o pipefail
cd "$(dirname "$0")/.." || exit 2
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu_check.log"
PYTHONUNBUFFERED=1 timeout 540 python3 benchmarks/gpu_check.py --out "$out/gpu_check.json" "$@" 2>&1 \
    | tee -a "$out/gpu_check.log"
