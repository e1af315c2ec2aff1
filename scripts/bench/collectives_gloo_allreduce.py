#!/usr/bin/env python3
"""The peer for isthmus-bench: torch.distributed's Gloo all_reduce, flat over every rank.

Runs as one process per rank under isthmus-run (which sets RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT; MASTER_PORT is the launcher's own store, so Gloo rendezvouses on a separate TCPStore
that rank 0 hosts on MASTER_PORT + 1... unless GLOO_STORE_PORT is given). Under --wan every rank
sits in its center's namespace and Gloo's TCP flows cross the emulated link exactly as Isthmus's do.

Prints, on rank 0, one line per size in isthmus-bench's units and, with --json FILE, JSON lines.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.distributed as dist


def parse_bytes(text):
    mult = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("-b", default="1M")
    p.add_argument("-e", default="64M")
    p.add_argument("-f", type=float, default=2)
    p.add_argument("-w", type=int, default=1)
    p.add_argument("-n", type=int, default=3)
    p.add_argument("--json", default="")
    p.add_argument("--timeout", type=float, default=1800)
    a = p.parse_args()

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    # Rank 0's address as the other ranks can reach it: under --wan each center has its own
    # namespace, and the launcher's MASTER_ADDR is reachable from every center.
    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    port = int(os.environ.get("GLOO_STORE_PORT", int(os.environ["MASTER_PORT"]) + 1))
    store = dist.TCPStore(host if rank != 0 else "0.0.0.0", port, world, rank == 0,
                          timeout=__import__("datetime").timedelta(seconds=a.timeout))
    if rank != 0:
        pass
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world,
                            timeout=__import__("datetime").timedelta(seconds=a.timeout))
    out = open(a.json, "w") if (a.json and rank == 0) else None
    if rank == 0:
        print(f"# torch {torch.__version__} gloo all_reduce, {world} ranks, flat", flush=True)
        print("# %12s %12s %10s %8s %8s" % ("size(B)", "count", "time(us)", "algbw", "busbw"),
              flush=True)
    size = parse_bytes(a.b)
    end = parse_bytes(a.e)
    while size <= end:
        count = size // 4
        x = torch.randn(count, dtype=torch.float32)
        times = []
        for it in range(a.w + a.n):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            dt = time.perf_counter() - t0
            t = torch.tensor([dt], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            if it >= a.w:
                times.append(t.item())
        mean = sum(times) / len(times)
        algbw = size / mean / 1e9
        busbw = algbw * 2 * (world - 1) / world
        if rank == 0:
            print("  %12d %12d %10.0f %8.3f %8.3f" % (size, count, mean * 1e6, algbw, busbw),
                  flush=True)
            if out:
                out.write(json.dumps({"bytes": size, "count": count, "ranks": world,
                                      "backend": "gloo", "time_s": mean,
                                      "time_min_s": min(times), "time_max_s": max(times),
                                      "algbw_gbps": algbw, "busbw_gbps": busbw}) + "\n")
                out.flush()
        if size == end:
            break
        size = min(end, int(size * a.f)) if a.f > 1 else end + 1
    dist.destroy_process_group()
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
