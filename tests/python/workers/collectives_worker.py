"""2 centers x 2 ranks: every collective through the Python API, checked against exact values."""

from __future__ import annotations

import time

import torch

import isthmus
from common import assert_same_everywhere, ok

isthmus.init(timeout=60)
r, w = isthmus.rank(), isthmus.world_size()
assert w == 4 and isthmus.num_centers() == 2, (w, isthmus.num_centers())
assert isthmus.center() == r // 2 and isthmus.local_rank() == r % 2
assert isthmus.topology().ranks_of(1) == [2, 3]

# Exact allreduce: small integers are exact in fp16/bf16 too, whatever the summation order.
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    for op in ("sum", "avg"):
        for n in (0, 1, 7, 1023, 100003):
            base = (torch.arange(n) % 13).to(torch.float32)
            t = (base + r).to(dtype)
            isthmus.allreduce(t, op=op, codec="fp32")
            expect = base * 4 + 6
            if op == "avg":
                expect = expect / 4
            assert torch.equal(t, expect.to(dtype)), (dtype, op, n)

# int8 between centers: close to exact, and bit-identical on every rank.
g = torch.Generator().manual_seed(r)
x = torch.randn(1 << 18, generator=g)
exact = x.clone()
isthmus.allreduce(exact, op="avg", codec="fp32")
before = isthmus.traffic()["inter_bytes_sent"]
q = x.clone()
isthmus.allreduce(q, op="avg", codec="int8", ef_key="t")
sent = isthmus.traffic()["inter_bytes_sent"] - before
assert 0 < sent < x.numel() * 4 // 4, sent  # int8: about a quarter of the fp32 shard
rel = float((q - exact).norm() / exact.norm())
assert rel < 0.05, rel
assert_same_everywhere(q, "int8 allreduce result")

# Async: several in flight, waited in order.
ts = [torch.full((4096,), float(r + i)) for i in range(3)]
works = [isthmus.allreduce(t, op="sum", codec="fp32", async_op=True) for t in ts]
for i, (t, wk) in enumerate(zip(ts, works)):
    wk.wait(timeout=30)
    assert wk.is_completed() and torch.equal(t, torch.full((4096,), float(6 + 4 * i)))

# Non-contiguous across ranks: copied, reduced, written back.
m = (torch.arange(12, dtype=torch.float32).reshape(3, 4) + r).t()
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", isthmus.IsthmusCopyWarning)
    isthmus.allreduce(m, op="sum", codec="fp32")
assert torch.equal(m, (torch.arange(12, dtype=torch.float32).reshape(3, 4) * 4 + 6).t())

# reduce_scatter / all_gather / broadcast / barrier
n = 5
inp = torch.arange(w * n, dtype=torch.float32) + r
out = torch.zeros(n)
isthmus.reduce_scatter(out, inp, op="sum", codec="fp32")
expect = torch.arange(w * n, dtype=torch.float32)[r * n : (r + 1) * n] * 4 + 6
assert torch.equal(out, expect), (out, expect)
gathered = torch.zeros(w * 3, dtype=torch.int32)
isthmus.all_gather(gathered, torch.full((3,), r, dtype=torch.int32))
assert torch.equal(gathered, torch.arange(w, dtype=torch.int32).repeat_interleave(3))
b = torch.full((7,), r, dtype=torch.uint8)
isthmus.broadcast(b, src=3)
assert torch.equal(b, torch.full((7,), 3, dtype=torch.uint8))
isthmus.barrier(timeout=30)

# wait(timeout) raises isthmus.TimeoutError while a peer is late; the collective still completes.
t = torch.ones(16)
if r == 0:
    wk = isthmus.allreduce(t, op="sum", codec="fp32", async_op=True)
    try:
        wk.wait(timeout=0.2)
        raise AssertionError("expected isthmus.TimeoutError")
    except isthmus.TimeoutError as e:
        assert str(e), "empty message"
        print(f"timeout message: {e}", flush=True)
    wk.wait(timeout=30)
else:
    time.sleep(1.5)
    isthmus.allreduce(t, op="sum", codec="fp32")
assert torch.equal(t, torch.full((16,), 4.0))
ok()
