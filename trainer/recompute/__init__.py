"""Input-aware activation checkpointing (Mimose, arXiv 2209.02478): which blocks recompute, chosen per batch shape.

Batch shapes vary from step to step (sequences are not packed), so one fixed plan either recomputes for the
largest shape all the time or runs out of memory on it. This package plans per shape, online, in four parts:

    meter.py    ActivationMeter: per block, the bytes autograd saves for backward and the forward time
    laws.py     ShapeLaw: least squares y(B, S) over tokens T = B*S, T*S (attention) and a constant
    planner.py  choose_recompute: the blocks to recompute so the predicted peak fits the budget at the least
                predicted recompute time (exhaustive for small block counts, greedy by bytes/second)
    policy.py   the loop's recompute policies and build_recompute_policy, its one entry point

Memory model of a plan R (the set of recomputed blocks), for block i with kept bytes A_i and input bytes I_i:
    peak = fixed + residual(T) + sum_{i not in R} A_i + sum_{i in R} I_i + max_{i in R} (A_i - I_i) + margin
`fixed` is params + grads + optimizer state on the device (0 when the budget counts activations only); a
recomputed block keeps only its input, and while it is recomputed in backward its activations exist again
(the working set). `residual` is everything else: embedding, loss chunks and, on CUDA, what the allocator
holds beyond saved tensors; it is fitted from the measured peaks of the collection steps.

Imports only torch and numpy (the trainer's own dependencies).
"""

from trainer.recompute.laws import Shape, ShapeLaw, poly_features, residual_features
from trainer.recompute.meter import ActivationMeter, StepMeasurement
from trainer.recompute.planner import PlanChoice, choose_recompute
from trainer.recompute.policy import (
    FixedRecompute,
    InputAwareRecompute,
    PlannerStats,
    RecomputePolicy,
    build_recompute_policy,
    largest_shape,
    resolve_budget,
)

__all__ = ["ActivationMeter", "FixedRecompute", "InputAwareRecompute", "PlanChoice", "PlannerStats",
           "RecomputePolicy", "Shape", "ShapeLaw", "StepMeasurement", "build_recompute_policy", "choose_recompute",
           "largest_shape", "poly_features", "residual_features", "resolve_budget"]
