"""PyTorch integration: a DDP communication hook and DiLoCo, both over Isthmus.

How each piece reduces (see docs/python.md, "Which tier reduces what"):

* ``hierarchical_hook`` replaces DDP's allreduce of each gradient bucket with Isthmus's
  hierarchical allreduce: exact inside a center, compressed (with an error-feedback residual per
  bucket, kept by the C++ communicator) between centers. DDP itself still needs a
  torch.distributed process group (for its initial parameter broadcast and bookkeeping): any Gloo
  group over all ranks does, e.g. the one :func:`init_process_group` makes. No gradient byte goes
  through that group once the hook is registered.
* ``DiLoCo`` reduces the inner steps' gradients inside the center only, through a Gloo subgroup
  of the center's ranks (:func:`center_group`): the Isthmus communicator's intra tier is part of
  its hierarchical allreduce and has no public intra-only call, and a Gloo subgroup keeps the inner
  loop exact and independent of the WAN. Every ``sync_every`` steps the pseudo-gradient crosses
  centers through :func:`isthmus.allreduce` (compressed, error feedback under one key) and a
  Nesterov outer optimizer applies it.
"""

from __future__ import annotations

import atexit
import os
import queue
import subprocess
import tempfile
import threading
from datetime import timedelta
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.distributed as dist

import isthmus

__all__ = [
    "DiLoCo",
    "HierarchicalHookState",
    "center_group",
    "hierarchical_hook",
    "init_process_group",
]


# ---- process groups ---------------------------------------------------------------------------


def _gloo_interface() -> str:
    """The interface Gloo should bind to: the emulated WAN's "wan0" inside a center's namespace
    (isthmus-run --wan), else loopback. GLOO_SOCKET_IFNAME, when set, wins."""
    try:
        out = subprocess.run(
            ["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "lo"
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return "wan0" if "wan0" in names else "lo"


def init_process_group(backend: str = "gloo", timeout: float = 300.0) -> None:
    """Initializes torch.distributed's default group for the ranks of the Isthmus job.

    Rank, world size and the rendezvous come from Isthmus (call isthmus.init() first, or this
    does): rank 0 picks a fresh FileStore path and broadcasts it through Isthmus, so nothing
    collides with the store isthmus-run serves on MASTER_PORT. Gloo binds to the emulated WAN
    interface when there is one (see _gloo_interface).
    """
    if dist.is_initialized():
        return
    if not isthmus.is_initialized():
        isthmus.init()
    os.environ.setdefault("GLOO_SOCKET_IFNAME", _gloo_interface())
    rank, world = isthmus.rank(), isthmus.world_size()
    path_buf = torch.zeros(512, dtype=torch.uint8)
    if rank == 0:
        fd, path = tempfile.mkstemp(prefix="isthmus-torch-store-")
        os.close(fd)
        os.unlink(path)  # FileStore creates it; an empty pre-existing file is fine too
        encoded = path.encode()
        path_buf[: len(encoded)] = torch.tensor(list(encoded), dtype=torch.uint8)
        atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    isthmus.broadcast(path_buf, src=0, timeout=timeout)
    path = bytes(path_buf[path_buf != 0].tolist()).decode()
    store = dist.FileStore(path, world)
    dist.init_process_group(
        backend, store=store, rank=rank, world_size=world, timeout=timedelta(seconds=timeout)
    )


_center_groups: Dict[int, object] = {}


def center_group():
    """The torch.distributed group of this rank's center (every rank must call it, in any order
    relative to other work but the same order relative to other new_group calls)."""
    if not _center_groups:
        if not dist.is_initialized():
            init_process_group()
        topo = isthmus.topology()
        for c in range(topo.num_centers):
            _center_groups[c] = dist.new_group(ranks=topo.ranks_of(c))
    return _center_groups[isthmus.center()]


# ---- the DDP communication hook ---------------------------------------------------------------


class _Completer:
    """One daemon thread that waits on Isthmus Works (GIL released) and completes torch Futures,
    so DDP's backward keeps running while buckets cross the WAN."""

    def __init__(self) -> None:
        self._queue: "queue.Queue[Optional[Tuple]]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="isthmus-hook", daemon=True)
        self._thread.start()

    def submit(self, work: isthmus.Work, fut: torch.futures.Future, value, timeout) -> None:
        self._queue.put((work, fut, value, timeout))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, fut, value, timeout = item
            try:
                work.wait(timeout)
                fut.set_result(value() if callable(value) else value)
            except BaseException as e:  # noqa: BLE001 - handed to DDP, which raises it
                fut.set_exception(e)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


class HierarchicalHookState:
    """State of :func:`hierarchical_hook`: codec, mode, per-bucket buffers and counters.

    Pass it as DDP's hook state (``model.register_comm_hook(state, hierarchical_hook(...))``
    accepts any object; ``None`` works too: the hook keeps its own state).
    """

    def __init__(self, codec: str, delayed: bool, timeout: Optional[float], key_prefix: str):
        self.codec = codec
        self.delayed = delayed
        self.timeout = timeout
        self.key_prefix = key_prefix
        self.calls = 0
        self.completer = _Completer()
        # delayed mode: bucket key -> (Work, tensor being reduced) launched at the previous step
        self.pending: Dict[str, Tuple[isthmus.Work, torch.Tensor]] = {}

    def key(self, bucket) -> str:
        # The size is part of the key: DDP rebuilds its buckets after the first iteration, and a
        # rebuilt bucket must not inherit another bucket's error-feedback residual.
        return f"{self.key_prefix}.b{bucket.index()}.n{bucket.buffer().numel()}"


def hierarchical_hook(
    codec: str = "int8",
    delayed: bool = False,
    timeout: Optional[float] = None,
    key_prefix: str = "ddp",
) -> Callable:
    """A DDP communication hook running Isthmus's hierarchical allreduce on every bucket.

    Exact inside a center, ``codec`` between centers with an error-feedback residual per bucket.
    With ``delayed=True`` the exchange of step t's bucket overlaps step t+1 and its result is
    applied at step t+1 (one step stale; the first step applies a zero gradient, the same on
    every rank, so replicas never diverge).

    Usage::

        ddp = DistributedDataParallel(model, process_group=gloo_group)
        ddp.register_comm_hook(None, isthmus.torch.hierarchical_hook(codec="int8"))
    """
    st = HierarchicalHookState(codec, delayed, timeout, key_prefix)

    def hook(state, bucket) -> torch.futures.Future:
        st.calls += 1
        buf = bucket.buffer()
        key = st.key(bucket)
        # A CUDA bucket's future names its device, so that torch records an event when the
        # result is set (on the completer's thread) and DDP's stream waits on it.
        fut: torch.futures.Future = (
            torch.futures.Future(devices=[buf.device]) if buf.is_cuda else torch.futures.Future()
        )
        if not st.delayed:
            work = isthmus.allreduce(
                buf, op="avg", codec=st.codec, ef_key=key, async_op=True, timeout=st.timeout
            )
            st.completer.submit(work, fut, buf, st.timeout)
            return fut
        staging = buf.detach().clone()
        work = isthmus.allreduce(
            staging, op="avg", codec=st.codec, ef_key=key, async_op=True, timeout=st.timeout
        )
        previous = st.pending.get(key)
        st.pending[key] = (work, staging)
        if previous is None:
            fut.set_result(torch.zeros_like(buf))
        else:
            st.completer.submit(previous[0], fut, previous[1], st.timeout)
        return fut

    # DDP checks the annotation itself (a string under `from __future__ import annotations`).
    hook.__annotations__ = {"return": torch.futures.Future[torch.Tensor]}
    hook.state = st  # type: ignore[attr-defined]
    hook.__name__ = f"isthmus_hierarchical_hook_{codec}{'_delayed' if delayed else ''}"
    return hook


# ---- DiLoCo -----------------------------------------------------------------------------------


def _flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).to(torch.float32) for t in tensors])


def _unflat_into(flat: torch.Tensor, tensors: List[torch.Tensor]) -> None:
    offset = 0
    with torch.no_grad():
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t))
            offset += n


class DiLoCo:
    """DiLoCo (Douillard et al., 2023) over Isthmus.

    Replaces ``optimizer.step()`` in a training loop::

        diloco = isthmus.torch.DiLoCo(model, torch.optim.AdamW(model.parameters()), sync_every=20)
        for batch in data:
            loss = model(batch).loss; loss.backward()
            diloco.step()                 # inner step; every 20th also the outer step
            optimizer.zero_grad()

    Inner steps average gradients inside the center only (exact, a Gloo subgroup of the center's
    ranks: ``intra_group``, default :func:`center_group`). Every ``sync_every`` inner steps the
    pseudo-gradient (parameters at the last sync minus parameters now) is averaged across all ranks
    with :func:`isthmus.allreduce` using ``codec`` and an error-feedback residual, and an SGD outer
    optimizer with Nesterov momentum (``outer_lr``, ``outer_momentum``) applies it to the global
    parameters, which every rank then adopts. With ``overlap=True`` the exchange runs during the
    next ``overlap_steps`` inner steps; the outer step is then applied and the local progress made
    meanwhile is kept on top of it (parameters = new global + (now - at sync)).

    Ranks start from rank 0's parameters (broadcast through Isthmus) unless
    ``sync_initial=False``. Bytes crossing centers: ``isthmus.traffic()``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        inner_optimizer: torch.optim.Optimizer,
        sync_every: int,
        outer_lr: float = 0.7,
        outer_momentum: float = 0.9,
        codec: str = "int8",
        overlap: bool = False,
        overlap_steps: int = 1,
        intra_group=None,
        sync_initial: bool = True,
        timeout: Optional[float] = None,
        key: str = "diloco",
    ):
        if sync_every < 1:
            raise isthmus.InvalidArgumentError(f"sync_every must be >= 1, got {sync_every}")
        if overlap and not 1 <= overlap_steps < sync_every:
            raise isthmus.InvalidArgumentError(
                f"overlap_steps must be in [1, sync_every), got {overlap_steps}"
            )
        self.model = model
        self.inner_optimizer = inner_optimizer
        self.sync_every = sync_every
        self.codec = codec
        self.overlap = overlap
        self.overlap_steps = overlap_steps
        self.timeout = timeout
        self.key = key
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.local_world = isthmus.local_world_size()
        self.intra_group = intra_group
        if self.intra_group is None and self.local_world > 1:
            self.intra_group = center_group()
        if sync_initial:
            flat = _flat(self.params)
            isthmus.broadcast(flat, src=0, timeout=timeout)
            _unflat_into(flat, self.params)
        self.global_params = _flat(self.params)
        self.global_params.requires_grad_(False)
        self.outer_optimizer = torch.optim.SGD(
            [self.global_params],
            lr=outer_lr,
            momentum=outer_momentum,
            nesterov=outer_momentum > 0,
        )
        self.inner_steps = 0
        self.outer_steps = 0
        self._pending: Optional[Tuple[isthmus.Work, torch.Tensor, torch.Tensor, int]] = None

    # -- inner loop --
    def reduce_gradients(self) -> None:
        """Averages the gradients over this center's ranks (exact). Called by step()."""
        if self.local_world <= 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        flat = _flat(grads)
        dist.all_reduce(flat, group=self.intra_group)
        flat /= self.local_world
        _unflat_into(flat, grads)
        for p, g in zip(self.params, grads):
            if p.grad is None:
                p.grad = g

    def step(self) -> None:
        self.reduce_gradients()
        self.inner_optimizer.step()
        self.inner_steps += 1
        if self._pending is not None and self.inner_steps >= self._pending[3]:
            self._finish_outer()
        if self.inner_steps % self.sync_every == 0:
            self._start_outer()

    # -- outer loop --
    def _start_outer(self) -> None:
        local = _flat(self.params)
        pseudo = self.global_params - local
        work = isthmus.allreduce(
            pseudo, op="avg", codec=self.codec, ef_key=self.key, async_op=True,
            timeout=self.timeout,
        )
        self._pending = (work, pseudo, local, self.inner_steps + self.overlap_steps)
        if not self.overlap:
            self._finish_outer()

    def _finish_outer(self) -> None:
        work, pseudo, local_at_sync, _ = self._pending
        self._pending = None
        work.wait(self.timeout)
        self.outer_optimizer.zero_grad(set_to_none=False)
        self.global_params.grad = pseudo
        self.outer_optimizer.step()
        self.global_params.grad = None
        new = self.global_params.clone()
        if self.overlap:
            new += _flat(self.params) - local_at_sync
        _unflat_into(new, self.params)
        self.outer_steps += 1

    def finish(self) -> None:
        """Completes an outer exchange still in flight (overlap=True) so every rank ends equal."""
        if self._pending is not None:
            self._finish_outer()

    def state_dict(self) -> dict:
        return {
            "inner_steps": self.inner_steps,
            "outer_steps": self.outer_steps,
            "global_params": self.global_params.clone(),
            "outer_optimizer": self.outer_optimizer.state_dict(),
        }
