"""Isthmus: hierarchical, compressed collectives for training one model across centers.

The API follows torch.distributed where a user would expect it::

    import isthmus
    isthmus.init()                       # identity and topology from isthmus-run / torchrun / SLURM
    work = isthmus.allreduce(t, op="avg", codec="int8", async_op=True)
    work.wait(timeout=30)

Tensors are anything that speaks DLPack: numpy arrays, torch CPU and CUDA tensors. Contiguous
tensors are reduced in place with no copy. A non-contiguous tensor is copied into a contiguous
buffer, reduced, and copied back when the Work is waited on; an ``IsthmusCopyWarning`` says so.

Errors are ``isthmus.Error`` (a RuntimeError) or one of its subclasses ``TimeoutError``,
``PeerLostError``, ``CorruptError``, ``InvalidArgumentError``, ``AbortedError``; ``str(e)`` is the
C++ message naming rank, operation, peer and elapsed time.

The PyTorch integration (a DDP communication hook, DiLoCo) is in :mod:`isthmus.torch`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import _C
from ._C import (
    AbortedError,
    CorruptError,
    Error,
    InvalidArgumentError,
    PeerLostError,
    TimeoutError,  # noqa: A004 - deliberately shadows the builtin inside this namespace
)

__all__ = [
    "AbortedError",
    "CorruptError",
    "Error",
    "InvalidArgumentError",
    "IsthmusCopyWarning",
    "PeerLostError",
    "TimeoutError",
    "Topology",
    "Work",
    "abort",
    "all_gather",
    "allreduce",
    "barrier",
    "broadcast",
    "center",
    "communicator",
    "describe",
    "init",
    "is_initialized",
    "local_rank",
    "local_world_size",
    "num_centers",
    "rank",
    "reduce_scatter",
    "shutdown",
    "topology",
    "traffic",
    "world_size",
]

__version__ = "0.1.0"


class IsthmusCopyWarning(UserWarning):
    """A tensor had to be copied (it was not contiguous) before Isthmus could use it."""


_comm: Optional[_C.Communicator] = None


def init(
    timeout: float = 300.0,
    codec: str = "int8",
    intra_codec: str = "fp32",
    lanes_per_peer: int = 0,
    pipeline_chunk_bytes: int = 0,
) -> _C.Communicator:
    """Joins the job described by the environment (isthmus-run, torchrun or SLURM variables).

    ``codec`` is the default codec between centers, ``intra_codec`` the one inside a center;
    ``timeout`` (seconds) bounds every collective unless a call gives its own. Calling init()
    twice raises: one communicator per process.
    """
    global _comm
    if _comm is not None:
        raise InvalidArgumentError("isthmus.init() was already called in this process")
    _comm = _C.init_from_env(
        timeout=timeout,
        inter_codec=codec,
        intra_codec=intra_codec,
        lanes_per_peer=lanes_per_peer,
        pipeline_chunk_bytes=pipeline_chunk_bytes,
    )
    return _comm


def shutdown(barrier: bool = True, timeout: Optional[float] = 60.0) -> None:
    """Leaves the job: waits at a barrier (so no rank closes connections while others still
    use them), then drops this process's communicator. isthmus.init() may be called again."""
    global _comm
    if _comm is None:
        return
    try:
        if barrier:
            _comm.barrier(timeout).wait(timeout)
    finally:
        _comm = None


def is_initialized() -> bool:
    return _comm is not None


def communicator() -> _C.Communicator:
    """The process's communicator; raises isthmus.Error before init()."""
    if _comm is None:
        raise Error("isthmus is not initialized: call isthmus.init() first")
    return _comm


def rank() -> int:
    return communicator().rank


def world_size() -> int:
    return communicator().world_size


def center() -> int:
    """Index of this rank's center."""
    return communicator().center


def num_centers() -> int:
    return communicator().num_centers


def local_rank() -> int:
    """Index of this rank inside its center."""
    return communicator().local_rank


def local_world_size() -> int:
    """Number of ranks in this rank's center."""
    return communicator().local_world_size


@dataclass(frozen=True)
class Topology:
    """Centers (each a name and its global ranks) and the links between them."""

    centers: List[Dict[str, Any]]
    links: List[Dict[str, Any]]
    job_id: str
    text: str = field(repr=False)

    @property
    def num_centers(self) -> int:
        return len(self.centers)

    def ranks_of(self, center: int) -> List[int]:
        return list(self.centers[center]["ranks"])

    def center_of(self, rank: int) -> int:
        for i, c in enumerate(self.centers):
            if rank in c["ranks"]:
                return i
        raise InvalidArgumentError(f"rank {rank} is in no center")

    def __str__(self) -> str:
        return self.text


def topology() -> Topology:
    return Topology(**communicator().topology())


def traffic() -> Dict[str, int]:
    """Cumulative bytes this rank moved: inter_bytes_sent, inter_bytes_received, intra_bytes_sent."""
    return communicator().traffic()


def describe(count: int, dtype: str = "fp32", codec: str = "") -> str:
    """The plan allreduce would run for ``count`` elements, as text."""
    return communicator().describe(count, dtype, codec)


def abort(reason: str = "aborted from Python") -> None:
    """Fails every pending and future collective on this rank."""
    communicator().abort(reason)


# ---- tensors ----------------------------------------------------------------------------------


def _is_torch(t: Any) -> bool:
    return type(t).__module__.startswith("torch")


def _is_contiguous(t: Any) -> bool:
    if _is_torch(t):
        return bool(t.is_contiguous())
    flags = getattr(t, "flags", None)
    if flags is not None:
        return bool(flags["C_CONTIGUOUS"])
    return True  # other DLPack producers: the extension checks strides and says what is wrong


def _contiguous_copy(t: Any, what: str) -> Any:
    nbytes = t.numel() * t.element_size() if _is_torch(t) else t.nbytes
    warnings.warn(
        f"isthmus.{what}: tensor of shape {tuple(t.shape)} is not contiguous; using a contiguous "
        f"copy ({nbytes} bytes) and copying the result back on wait()",
        IsthmusCopyWarning,
        stacklevel=4,  # the caller of the collective that called _readable / _writable
    )
    if _is_torch(t):
        return t.contiguous()
    import numpy as np

    return np.ascontiguousarray(t)


def _readable(t: Any, what: str) -> Any:
    """``t``, or a contiguous copy of it (said with a warning) for a collective to read."""
    return t if _is_contiguous(t) else _contiguous_copy(t, what)


def _writable(t: Any, what: str, copies: list) -> Any:
    """``t``, or a contiguous copy (said with a warning) that the collective writes and
    Work.wait() copies back into ``t``."""
    if _is_contiguous(t):
        return t
    buf = _contiguous_copy(t, what)
    copies.append((t, buf))
    return buf


def _copy_back(dst: Any, src: Any) -> None:
    if _is_torch(dst):
        dst.copy_(src)
    else:
        import numpy as np

        np.copyto(dst, src)


def _stream_of(t: Any) -> int:
    """The current CUDA stream of a torch CUDA tensor's device (0 = default / host tensors)."""
    if _is_torch(t) and t.is_cuda:
        import torch

        return int(torch.cuda.current_stream(t.device).cuda_stream)
    return 0


class Work:
    """Handle of an asynchronous collective, as torch.distributed's Work.

    ``wait(timeout=None)`` blocks (without the GIL) until the collective completes and raises its
    error; with ``timeout`` seconds it raises ``isthmus.TimeoutError`` when they pass, and the
    collective keeps running (wait again, or abort). After a successful wait the result is in the
    caller's tensor (copied back there if the tensor was not contiguous).
    """

    __slots__ = ("_work", "_copies", "_done")

    def __init__(self, work: _C.Work, copies: Optional[List[tuple]] = None):
        self._work = work
        self._copies = copies or []
        self._done = False

    def wait(self, timeout: Optional[float] = None) -> bool:
        self._work.wait(timeout)
        if not self._done:
            for dst, src in self._copies:
                _copy_back(dst, src)
            self._copies = []
            self._done = True
        return True

    def is_completed(self) -> bool:
        return self._work.is_completed()

    def traffic(self) -> Dict[str, int]:
        """Bytes this rank moved for this collective."""
        return self._work.traffic()

    @property
    def seq(self) -> int:
        """The collective's sequence number (the same on every rank)."""
        return self._work.seq

    def abort(self, reason: str = "aborted from Python") -> None:
        self._work.abort(reason)

    def __repr__(self) -> str:
        state = "completed" if self._work.is_completed() else "pending"
        return f"<isthmus.Work seq={self._work.seq} {state}>"


def _finish(work: Work, async_op: bool, timeout: Optional[float]) -> Work:
    if not async_op:
        work.wait(timeout)
    return work


def allreduce(
    tensor: Any,
    op: str = "avg",
    codec: Optional[str] = None,
    async_op: bool = False,
    ef_key: Optional[str] = None,
    timeout: Optional[float] = None,
) -> Work:
    """Reduces ``tensor`` in place across all ranks: exact inside a center, ``codec`` between.

    ``op`` is "avg" or "sum"; ``codec`` one of "fp32" (exact), "fp16", "bf16", "int8", "int4",
    "fp8", "topk:fraction=F" (None: the communicator's default). Lossy codecs keep an
    error-feedback residual per ``ef_key`` (give one per tensor that is reduced every step; None:
    no error feedback). Returns a Work; with ``async_op=False`` it has already completed.
    fp32, fp16 and bf16 tensors; every rank ends with bit-identical values.
    """
    copies: list = []
    buf = _writable(tensor, "allreduce", copies)
    w = communicator().allreduce(
        buf, op, codec or "", ef_key or "", timeout, _stream_of(buf)
    )
    return _finish(Work(w, copies), async_op, timeout)


def reduce_scatter(
    output: Any,
    input: Any,  # noqa: A002 - torch.distributed's name
    op: str = "avg",
    codec: Optional[str] = None,
    async_op: bool = False,
    timeout: Optional[float] = None,
) -> Work:
    """``input`` has world_size * output.numel() elements; rank r receives slice r, reduced."""
    copies: list = []
    input = _readable(input, "reduce_scatter")
    out = _writable(output, "reduce_scatter", copies)
    w = communicator().reduce_scatter(input, out, op, codec or "", timeout, _stream_of(out))
    return _finish(Work(w, copies), async_op, timeout)


def all_gather(
    output: Any,
    input: Any,  # noqa: A002
    codec: Optional[str] = None,
    async_op: bool = False,
    timeout: Optional[float] = None,
) -> Work:
    """``output`` has world_size * input.numel() elements; slice r comes from rank r."""
    copies: list = []
    input = _readable(input, "all_gather")
    out = _writable(output, "all_gather", copies)
    w = communicator().all_gather(input, out, codec or "", timeout, _stream_of(out))
    return _finish(Work(w, copies), async_op, timeout)


def broadcast(
    tensor: Any, src: int = 0, async_op: bool = False, timeout: Optional[float] = None
) -> Work:
    """Copies rank ``src``'s ``tensor`` into every rank's ``tensor`` (exact, any dtype)."""
    copies: list = []
    buf = _writable(tensor, "broadcast", copies)
    w = communicator().broadcast(buf, src, timeout, _stream_of(buf))
    return _finish(Work(w, copies), async_op, timeout)


def barrier(async_op: bool = False, timeout: Optional[float] = None) -> Work:
    return _finish(Work(communicator().barrier(timeout)), async_op, timeout)
