#!/usr/bin/env python3
"""The main job: a small GPT trained across 2 emulated centers x 2 ranks, three ways.

    python examples/train_gpt.py            # what `make demo` runs

Modes (each a separate isthmus-run job, same model, data, seeds and step count):
  baseline  flat exact allreduce: torch DDP over a Gloo group of all 4 ranks (what you get
            without Isthmus: every step's full fp32 gradient crosses the WAN, ring order).
  hook      the same DDP, with isthmus.torch.hierarchical_hook(codec="int8"): exact inside a
            center, int8 with error feedback between centers.
  diloco    isthmus.torch.DiLoCo(int8): inner steps reduce inside a center only; every H steps
            the pseudo-gradient crosses centers, int8, and a Nesterov outer step applies it.

As root the centers are network namespaces joined by an emulated WAN link (isthmus-run --wan);
otherwise all ranks share loopback and the WAN costs nothing (the table then says so).

Data: the license texts every Debian machine has under /usr/share/common-licenses, read as bytes
(character-level); 4 KiB blocks are split 9:1 into train and held-out. If that folder is missing
a synthetic grammar generates the text instead (printed). Nothing is downloaded.

At the end: a table (final held-out loss, wall time, bytes across centers, ratios to the
baseline) and a PNG of held-out loss against wall time. The worker half of this file runs under
isthmus-run (``--worker``); the driver half launches it and collects the results.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# ---- configuration (see docs/BENCHMARKS.md "## Training" for why these numbers) ---------------

MODEL = dict(d_model=128, n_layers=2, n_heads=4, context=64)
BATCH_PER_RANK = 16
LR = 3e-3
WARMUP = 20
STEPS = 400
EVAL_EVERY = 25
EVAL_BATCHES = 16  # spread over the ranks
DILOCO_H = 20
DILOCO_OUTER_LR = 0.7
# DiLoCo's published 0.9 assumes H in the hundreds and long runs; over a few hundred steps with
# H=20 it overshoots (single-process simulation here: +22% held-out loss at 600 steps with 0.9,
# +0.4% with 0.5). isthmus.torch.DiLoCo keeps 0.9 as its default; this job passes 0.5.
DILOCO_OUTER_MOMENTUM = 0.5
WAN = "rate=100mbit,rtt=40ms"
CENTERS, RANKS_PER_CENTER = 2, 2
MODES = ("baseline", "hook", "diloco")


# ---- data -------------------------------------------------------------------------------------


def synthetic_text(n_bytes: int, seed: int = 7) -> bytes:
    """A small probabilistic grammar (subject verb object, clauses): learnable, not trivial."""
    rng = random.Random(seed)
    nouns = "center rank link gradient model packet shard window codec buffer".split()
    verbs = "sends reduces compresses gathers waits for scatters encodes decodes".split()
    adjs = "slow fast wide long quiet busy exact lossy".split()
    out = []
    size = 0
    while size < n_bytes:
        s = f"the {rng.choice(adjs)} {rng.choice(nouns)} {rng.choice(verbs)} the {rng.choice(nouns)}"
        if rng.random() < 0.4:
            s += f" while the {rng.choice(nouns)} {rng.choice(verbs)} a {rng.choice(adjs)} {rng.choice(nouns)}"
        s += ".\n" if rng.random() < 0.2 else ". "
        out.append(s)
        size += len(s)
    return "".join(out).encode()


def load_corpus() -> tuple[bytes, str]:
    files = sorted(f for f in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(f))
    text = b"".join(open(f, "rb").read() for f in files)
    if len(text) >= 100_000:
        return text, f"/usr/share/common-licenses ({len(files)} files, {len(text)} bytes)"
    return synthetic_text(300_000), "synthetic grammar (300000 bytes; no license texts found)"


def build_data(torch):
    text, source = load_corpus()
    vocab = sorted(set(text))
    lut = torch.zeros(256, dtype=torch.long)
    lut[torch.tensor(vocab)] = torch.arange(len(vocab))
    ids = lut[torch.frombuffer(bytearray(text), dtype=torch.uint8).long()]
    block = 4096
    n = len(ids) // block
    train = torch.cat([ids[i * block : (i + 1) * block] for i in range(n) if i % 10 != 0])
    held = torch.cat([ids[i * block : (i + 1) * block] for i in range(n) if i % 10 == 0])
    return train, held, len(vocab), source


def sample(torch, src, gen, batch, context):
    ix = torch.randint(0, len(src) - context - 1, (batch,), generator=gen)
    x = torch.stack([src[i : i + context] for i in ix.tolist()])
    y = torch.stack([src[i + 1 : i + context + 1] for i in ix.tolist()])
    return x, y


# ---- model ------------------------------------------------------------------------------------


def make_model(torch, vocab):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.out = nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, 2)
            q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self, vocab, context, d_model, n_layers, n_heads):
            super().__init__()
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(context, d_model)
            self.blocks = nn.Sequential(*[Block(d_model, n_heads) for _ in range(n_layers)])
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            return self.head(self.ln(self.blocks(x)))

    return GPT(vocab, **MODEL)


# ---- worker (one rank, under isthmus-run) -----------------------------------------------------


def wan_tx_bytes() -> int | None:
    """Bytes this center's namespace sent on the emulated WAN (None outside --wan)."""
    p = Path("/sys/class/net/wan0/statistics/tx_bytes")
    return int(p.read_text()) if p.exists() else None


def worker(args) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    import isthmus
    import isthmus.torch as itorch

    torch.set_num_threads(1)
    isthmus.init(timeout=120)
    itorch.init_process_group("gloo", timeout=120)
    rank, world = isthmus.rank(), isthmus.world_size()
    local_rank = isthmus.local_rank()
    train, held, vocab, source = build_data(torch)
    torch.manual_seed(0)
    model = make_model(torch, vocab)
    n_params = sum(p.numel() for p in model.parameters())
    inner_opt = None
    diloco = None
    net = model
    if args.mode in ("baseline", "hook"):
        net = DDP(model)
        if args.mode == "hook":
            net.register_comm_hook(None, itorch.hierarchical_hook(codec="int8"))
        opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=0.0)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
        diloco = itorch.DiLoCo(
            model, opt, sync_every=args.diloco_h, outer_lr=args.outer_lr,
            outer_momentum=args.outer_momentum, codec="int8",
        )
    gen = torch.Generator().manual_seed(1000 + rank)

    def evaluate() -> float:
        g = torch.Generator().manual_seed(4242)
        total = torch.zeros(2)
        model.eval()
        with torch.no_grad():
            for b in range(EVAL_BATCHES):
                x, y = sample(torch, held, g, 64, MODEL["context"])
                if b % world == rank:
                    total[0] += F.cross_entropy(model(x).view(-1, vocab), y.view(-1)).item()
                    total[1] += 1
        model.train()
        dist.all_reduce(total)
        return float(total[0] / total[1])

    def lr_at(step: int) -> float:
        return LR * min(1.0, (step + 1) / WARMUP)

    dist.barrier()
    tx0 = wan_tx_bytes() if local_rank == 0 else None
    traffic0 = isthmus.traffic()["inter_bytes_sent"]
    curve = [(0.0, 0, evaluate())]
    progress = None
    if rank == 0:
        from tqdm import tqdm

        class _Lines:
            """isthmus-run relays whole lines: turn tqdm's carriage returns into new lines."""

            def write(self, s: str) -> None:
                s = s.replace("\r", "").strip()
                if s:
                    sys.stdout.write(s + "\n")

            def flush(self) -> None:
                sys.stdout.flush()

        progress = tqdm(total=args.steps, desc=args.mode, mininterval=10.0, file=_Lines(),
                        ascii=True, dynamic_ncols=False, ncols=100)
    compute = 0.0
    eval_time = 0.0
    start = time.perf_counter()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x, y = sample(torch, train, gen, BATCH_PER_RANK, MODEL["context"])
        t0 = time.perf_counter()
        loss = F.cross_entropy(net(x).view(-1, vocab), y.view(-1))
        opt.zero_grad(set_to_none=False)
        if diloco is not None:
            loss.backward()
            compute += time.perf_counter() - t0
            diloco.step()
        else:
            loss.backward()  # DDP's allreduce (or the hook) runs inside backward
            opt.step()
        if diloco is not None:
            synced = diloco.inner_steps % args.diloco_h == 0
        else:
            synced = True
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if (step + 1) % EVAL_EVERY == 0 and synced or step + 1 == args.steps:
            e0 = time.perf_counter()
            held_loss = evaluate()
            eval_time += time.perf_counter() - e0
            curve.append((time.perf_counter() - start - eval_time, step + 1, held_loss))
    wall = time.perf_counter() - start - eval_time
    if diloco is not None:
        diloco.finish()
    if progress is not None:
        progress.close()
    # compute-only time per step, measured without communication on the same ranks
    t0 = time.perf_counter()
    for _ in range(5):
        x, y = sample(torch, train, gen, BATCH_PER_RANK, MODEL["context"])
        loss = F.cross_entropy(model(x).view(-1, vocab), y.view(-1))
        loss.backward()
        opt.zero_grad(set_to_none=False)
    compute_step = (time.perf_counter() - t0) / 5
    dist.barrier()
    tx1 = wan_tx_bytes() if local_rank == 0 else None
    counters = torch.tensor(
        [
            float(isthmus.traffic()["inter_bytes_sent"] - traffic0),
            float(tx1 - tx0) if tx0 is not None and tx1 is not None else 0.0,
            1.0 if tx0 is not None else 0.0,
            compute_step,
        ],
        dtype=torch.float64,
    )
    dist.all_reduce(counters)
    final = evaluate()
    if rank == 0:
        result = dict(
            mode=args.mode,
            steps=args.steps,
            world=world,
            params=n_params,
            source=source,
            final_loss=final,
            wall_s=wall,
            compute_s_per_step=float(counters[3]) / world,
            isthmus_inter_bytes=int(counters[0]),
            wan_bytes_measured=int(counters[1]) if counters[2] > 0 else None,
            curve=curve,
            diloco_h=args.diloco_h if args.mode == "diloco" else None,
        )
        Path(args.out).write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()
    # Leave the job cleanly: a barrier, then goodbyes, so no rank takes another's exit for a fault.
    isthmus.shutdown()


# ---- driver -----------------------------------------------------------------------------------


def gloo_ring_cross_bytes(n_params: int, steps: int) -> int:
    """Bytes a flat ring allreduce sends across centers: each of the 2 ring edges that join the
    centers carries 2(n-1)/n of the fp32 gradient per step (reduce-scatter + all-gather)."""
    n = CENTERS * RANKS_PER_CENTER
    per_edge = 2 * (n - 1) / n * 4 * n_params
    return int(CENTERS * per_edge * steps)


def find_launcher() -> str:
    exe = shutil.which("isthmus-run")
    if exe:
        return exe
    import isthmus._launcher as launcher

    return str(launcher.binary_path())


def run_mode(args, mode: str, use_wan: bool, out_dir: Path) -> dict:
    out = out_dir / f"{mode}.json"
    cmd = [find_launcher(), "--centers", str(CENTERS), "--ranks-per-center", str(RANKS_PER_CENTER)]
    if use_wan:
        cmd += ["--wan", args.wan]
    cmd += ["--", sys.executable, str(Path(__file__).resolve()), "--worker", "--mode", mode,
            "--steps", str(args.steps), "--out", str(out), "--diloco-h", str(args.diloco_h),
            "--outer-lr", str(args.outer_lr), "--outer-momentum", str(args.outer_momentum)]
    print(f"\n== {mode}: {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    env = dict(os.environ)
    env.setdefault("ISTHMUS_JOB_SECRET", secrets.token_hex(16))  # the job's shared secret
    env.setdefault("OMP_NUM_THREADS", "1")
    rc = subprocess.run(cmd, timeout=args.mode_timeout, env=env).returncode
    if rc != 0:
        raise SystemExit(f"train_gpt: mode {mode} failed: isthmus-run exited {rc}")
    result = json.loads(out.read_text())
    result["job_s"] = time.perf_counter() - t0
    return result


def print_table(results: list[dict], use_wan: bool, wan: str) -> str:
    base = results[0]
    lines = []
    link = f"emulated WAN {wan}" if use_wan else "loopback only (no WAN emulation: not root, or --no-wan)"
    lines.append(
        f"{base['world']} ranks = {CENTERS} centers x {RANKS_PER_CENTER}, {link}; "
        f"GPT {base['params']} params, {base['steps']} steps, data: {base['source']}"
    )
    header = (f"| mode | held-out loss | vs baseline | wall s | wall / baseline | "
              f"compute s/step | bytes across centers | baseline / mode bytes | bytes method |")
    lines.append(header)
    lines.append("|" + "---|" * 9)
    for r in results:
        if r["mode"] == "baseline":
            measured = r["wan_bytes_measured"]
            ring = gloo_ring_cross_bytes(r["params"], r["steps"])
            cross = measured if measured is not None else ring
            method = "wan0 tx bytes (measured)" if measured is not None else "ring model (computed)"
        else:
            measured = r["wan_bytes_measured"]
            cross = measured if measured is not None else r["isthmus_inter_bytes"]
            method = ("wan0 tx bytes (measured)" if measured is not None
                      else "isthmus counters (payload)")
        r["cross_bytes"] = cross
        r["bytes_method"] = method
    for r in results:
        rel = (r["final_loss"] - base["final_loss"]) / base["final_loss"] * 100
        ratio = base["cross_bytes"] / r["cross_bytes"] if r["cross_bytes"] else float("inf")
        name = r["mode"] + (f" (H={r['diloco_h']})" if r.get("diloco_h") else "")
        lines.append(
            f"| {name} | {r['final_loss']:.4f} | {rel:+.2f}% | {r['wall_s']:.1f} | "
            f"{r['wall_s'] / base['wall_s']:.2f} | {r['compute_s_per_step']:.3f} | "
            f"{r['cross_bytes'] / 1e6:.1f} MB | {ratio:.1f}x | {r['bytes_method']} |"
        )
    text = "\n".join(lines)
    print("\n" + text, flush=True)
    return text


def plot(results: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        xs = [c[0] for c in r["curve"]]
        ys = [c[2] for c in r["curve"]]
        ax.plot(xs, ys, marker="o", markersize=3, label=f"{r['mode']} ({r['final_loss']:.3f})")
    ax.set_xlabel("wall time (s, evaluation excluded)")
    ax.set_ylabel("held-out loss (nats/char)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of modes")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--wan", default=WAN, help="isthmus-run --wan spec (as root)")
    ap.add_argument("--no-wan", action="store_true", help="plain loopback even as root")
    ap.add_argument("--diloco-h", type=int, default=DILOCO_H)
    ap.add_argument("--outer-lr", type=float, default=DILOCO_OUTER_LR)
    ap.add_argument("--outer-momentum", type=float, default=DILOCO_OUTER_MOMENTUM)
    ap.add_argument("--out-dir", default="out/train_gpt")
    ap.add_argument("--mode-timeout", type=float, default=900, help="seconds per mode")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    use_wan = os.geteuid() == 0 and not args.no_wan
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    modes = [m for m in args.modes.split(",") if m]
    if modes[0] != "baseline":
        raise SystemExit("train_gpt: the first mode must be baseline (ratios are against it)")
    results = [run_mode(args, m, use_wan, out_dir) for m in modes]
    table = print_table(results, use_wan, args.wan)
    (out_dir / "table.md").write_text(table + "\n")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, out_dir / "loss_vs_wall.png",
         f"GPT across 2 centers x 2 ranks ({args.wan if use_wan else 'loopback'})")


if __name__ == "__main__":
    main()
