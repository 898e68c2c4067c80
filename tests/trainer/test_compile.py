"""train.compile with the grouped experts on the CPU in fp32: a compiled MoE block gives eager's output and
gradients (the grouped GEMM leaves the graph in fp32, whose tracing accepts bf16 only). aot_eager traces what
inductor traces (Dynamo, the autograd graph) at a fraction of the compile time; benchmarks/gpu_check.py runs
inductor on the GPU."""

import copy

import torch

from trainer.config import load_config
from trainer.model import Block


def test_compiled_moe_block_equals_eager():
    cfg = load_config("tiny", {"model.vocab_size": 64, "model.moe.seq_balance_coef": 0.01}).model
    torch.manual_seed(0)
    eager = Block(1, cfg)
    assert eager.is_moe and eager.ffn.experts.impl == "grouped"
    for p in eager.parameters():
        torch.nn.init.normal_(p, std=0.1)
    compiled = copy.deepcopy(eager)
    compiled.compile(dynamic=True, backend="eager")
    cos, sin = torch.ones(16, cfg.head_dim), torch.zeros(16, cfg.head_dim)
    x = torch.randn(2, 16, cfg.dim)  # one shape: each new one costs another trace (~10 s of CPU here)
    outs = []
    for block in (eager, compiled):
        xi = x.clone().requires_grad_(True)
        y = block(xi, cos, sin)
        y.square().sum().backward()
        outs.append((y.detach(), xi.grad))
    torch.testing.assert_close(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[0][1], outs[1][1])
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
