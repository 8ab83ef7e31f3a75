"""The machine's measured peak: FLOP/s of one large square matmul, per dtype, at the current
torch thread count. MFU (model FLOP utilisation) of a training row = its achieved FLOP/s over
this peak at the same dtype: the share of what this CPU's matmul kernels reach at best."""

from __future__ import annotations

import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def peak_matmul_flops(precision: str, size: int = 2048, rounds: int = 3) -> float:
    """FLOP/s (2 n^3 per product) of the fastest of ``rounds`` ``n x n @ n x n`` products in
    ``precision`` (``fp32`` or ``bf16``), after one untimed warm-up product."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(DTYPES[precision])
    b = torch.randn(size, size, generator=generator).to(DTYPES[precision])
    torch.matmul(a, b)  # warm-up: kernel selection, page faults
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best
