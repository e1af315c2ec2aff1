"""GPU: the DDP hook and DiLoCo on CUDA tensors (one GPU, 4 processes) give the same losses as on
CPU.

Runs only where torch sees a CUDA device (`scripts/gpu/device_check.sh run python` on a GPU
machine)."""

from __future__ import annotations

import pytest
import torch

from conftest import expect_ok, run_ranks

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU"),
]


def losses(out: str) -> list[float]:
    for line in out.splitlines():
        if "LOSSES " in line:
            return [float(v) for v in line.split("LOSSES ", 1)[1].split()]
    raise AssertionError(f"no LOSSES line in:\n{out}")


@pytest.mark.parametrize("mode", ["hook", "diloco"])
def test_cuda_matches_cpu(mode):
    cpu = losses(expect_ok(run_ranks("device_worker.py", "cpu", mode, timeout=240)))
    gpu = losses(expect_ok(run_ranks("device_worker.py", "cuda", mode, timeout=240)))
    print(mode, "cpu", cpu)
    print(mode, "gpu", gpu)
    assert len(cpu) == len(gpu) == 8
    for c, g in zip(cpu, gpu):
        assert abs(g - c) / abs(c) < 1e-3, (c, g)
