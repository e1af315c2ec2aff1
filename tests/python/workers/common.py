"""Helpers for worker scripts: compare a tensor across all ranks, bit for bit."""

from __future__ import annotations

import sys

import torch

import isthmus


def gather_all(t: torch.Tensor) -> torch.Tensor:
    """Every rank's copy of ``t`` (exact all_gather), as a [world, numel] tensor."""
    flat = t.detach().reshape(-1).contiguous()
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.view(torch.int16).to(torch.int32)
    elif flat.dtype == torch.float32:
        flat = flat.view(torch.int32)
    out = torch.zeros(isthmus.world_size() * flat.numel(), dtype=flat.dtype)
    isthmus.all_gather(out, flat)
    return out.view(isthmus.world_size(), -1)


def assert_same_everywhere(t: torch.Tensor, what: str) -> None:
    rows = gather_all(t)
    for r in range(rows.shape[0]):
        if not torch.equal(rows[r], rows[0]):
            raise AssertionError(f"{what}: rank {r} differs from rank 0")


def ok() -> None:
    """Reports success, then leaves the job cleanly (a barrier before connections close)."""
    print(f"OK rank {isthmus.rank()}", flush=True)
    sys.stdout.flush()
    isthmus.shutdown()
