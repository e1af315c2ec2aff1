"""The extension's surface in one process: tensors in through DLPack, dtypes, layouts, 0-size,
async Work, errors with their messages. A one-rank communicator needs no store or network."""

from __future__ import annotations

import builtins
import warnings

import numpy as np
import pytest
import torch

import isthmus
from isthmus import _C

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]


# ---- tensors as the extension sees them (no communicator needed) -------------------------------


@pytest.mark.parametrize(
    "tensor,dtype",
    [
        (torch.zeros(5, dtype=torch.float32), "fp32"),
        (torch.zeros(5, dtype=torch.float16), "fp16"),
        (torch.zeros(5, dtype=torch.bfloat16), "bf16"),
        (torch.zeros(5, dtype=torch.int8), "int8"),
        (torch.zeros(5, dtype=torch.uint8), "uint8"),
        (torch.zeros(5, dtype=torch.int32), "int32"),
        (np.zeros(5, dtype=np.float32), "fp32"),
        (np.zeros(5, dtype=np.float16), "fp16"),
        (np.zeros(5, dtype=np.int32), "int32"),
    ],
)
def test_dtypes_pass_without_copy(tensor, dtype):
    info = _C.buffer_info(tensor)
    assert info["dtype"] == dtype
    assert info["count"] == 5
    assert info["memory"] == "host"
    ptr = tensor.data_ptr() if isinstance(tensor, torch.Tensor) else tensor.ctypes.data
    assert info["data"] == ptr  # zero copy


def test_multidimensional_and_views_are_counted():
    t = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    assert _C.buffer_info(t)["count"] == 24
    row = t[1]  # contiguous view at an offset
    info = _C.buffer_info(row)
    assert info["count"] == 12 and info["data"] == row.data_ptr()


def test_zero_size_tensors():
    for t in (torch.empty(0), torch.empty(3, 0), np.empty((0,), dtype=np.float32)):
        assert _C.buffer_info(t)["count"] == 0


def test_non_contiguous_is_a_clear_error_in_the_extension():
    t = torch.zeros(4, 6).t()
    with pytest.raises(isthmus.InvalidArgumentError) as e:
        _C.buffer_info(t)
    assert "not contiguous" in str(e.value) and "strides" in str(e.value)
    assert e.value.code == "kInvalidArgument"


def test_unsupported_dtype_names_it():
    with pytest.raises(isthmus.InvalidArgumentError, match="float64"):
        _C.buffer_info(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError):  # also a builtin ValueError
        _C.buffer_info(np.zeros(3, dtype=np.int64))


def test_error_hierarchy():
    assert issubclass(isthmus.Error, RuntimeError)
    assert issubclass(isthmus.TimeoutError, isthmus.Error)
    assert issubclass(isthmus.TimeoutError, builtins.TimeoutError)
    assert issubclass(isthmus.PeerLostError, isthmus.Error)
    assert issubclass(isthmus.PeerLostError, ConnectionError)
    assert issubclass(isthmus.CorruptError, isthmus.Error)
    assert issubclass(isthmus.InvalidArgumentError, ValueError)


# ---- a one-rank communicator ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("op", ["sum", "avg"])
def test_allreduce_one_rank_is_identity(isthmus_single, dtype, op):
    t = torch.arange(1000, dtype=torch.float32).to(dtype)
    ref = t.clone()
    work = isthmus_single.allreduce(t, op=op, codec="fp32")
    assert work.is_completed()
    assert torch.equal(t, ref)


def test_allreduce_numpy_in_place(isthmus_single):
    a = np.arange(17, dtype=np.float32)
    isthmus_single.allreduce(a, op="sum", codec="fp32")
    np.testing.assert_array_equal(a, np.arange(17, dtype=np.float32))


def test_allreduce_zero_size(isthmus_single):
    t = torch.empty(0)
    isthmus_single.allreduce(t, op="sum").wait()
    assert t.numel() == 0


def test_async_work(isthmus_single):
    t = torch.ones(1 << 16)
    work = isthmus_single.allreduce(t, op="sum", codec="fp32", async_op=True)
    assert work.wait(timeout=30) is True
    assert work.is_completed()
    assert isinstance(work.seq, int)
    assert set(work.traffic()) >= {"inter_bytes_sent", "inter_bytes_received", "intra_bytes_sent"}
    assert "isthmus.Work" in repr(work)


def test_non_contiguous_is_copied_with_a_warning_and_written_back(isthmus_single):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    view = base.t()
    with pytest.warns(isthmus.IsthmusCopyWarning, match="not contiguous"):
        work = isthmus_single.allreduce(view, op="sum", codec="fp32", async_op=True)
    work.wait()
    assert torch.equal(base, torch.arange(12, dtype=torch.float32).reshape(3, 4))


def test_contiguous_tensor_gives_no_warning(isthmus_single):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        isthmus_single.allreduce(torch.ones(8), op="sum", codec="fp32")


def test_errors_carry_the_cpp_message(isthmus_single):
    with pytest.raises(isthmus.InvalidArgumentError) as e:
        isthmus_single.allreduce(torch.ones(4), op="max")
    assert "max" in str(e.value)
    with pytest.raises(isthmus.Error) as e:
        isthmus_single.allreduce(torch.ones(4, dtype=torch.int32), op="sum", codec="fp32")
    assert "int32" in str(e.value)
    with pytest.raises(isthmus.InvalidArgumentError, match="float64"):
        isthmus_single.allreduce(torch.ones(4, dtype=torch.float64))


def test_init_twice_is_an_error(isthmus_single):
    with pytest.raises(isthmus.InvalidArgumentError, match="already"):
        isthmus_single.init()


def test_identity_and_topology(isthmus_single):
    assert isthmus_single.rank() == 0
    assert isthmus_single.world_size() == 1
    assert isthmus_single.center() == 0
    topo = isthmus_single.topology()
    assert topo.num_centers == 1 and topo.ranks_of(0) == [0]
    assert isinstance(isthmus_single.describe(1024, "fp32", "int8"), str)


def test_other_collectives_one_rank(isthmus_single):
    x = torch.arange(6, dtype=torch.float32)
    out = torch.zeros(6)
    isthmus_single.all_gather(out, x)
    assert torch.equal(out, x)
    rs = torch.zeros(6)
    isthmus_single.reduce_scatter(rs, x, op="sum")
    assert torch.equal(rs, x)
    b = torch.arange(5, dtype=torch.int32)
    isthmus_single.broadcast(b, src=0)
    assert torch.equal(b, torch.arange(5, dtype=torch.int32))
    isthmus_single.barrier(timeout=10)
