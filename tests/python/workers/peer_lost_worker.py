"""Rank 3 leaves (exit 0, so the launcher lets the others run); the survivors' next allreduce
must fail with an isthmus error naming what happened, not hang."""

from __future__ import annotations

import os

import torch

import isthmus

isthmus.init(timeout=60)
isthmus.barrier(timeout=30)
if isthmus.rank() == 3:
    os._exit(0)
try:
    isthmus.allreduce(torch.ones(1 << 16), op="sum", codec="fp32", timeout=20)
    print("survivor saw no error", flush=True)
    raise SystemExit(1)
except (isthmus.PeerLostError, isthmus.TimeoutError, isthmus.AbortedError) as e:
    print(f"survivor saw {type(e).__name__}: {e}", flush=True)
    os._exit(0)
