"""The Python API and the PyTorch integration on 2 centers x 2 ranks under isthmus-run (loopback).

Each test runs a worker script (tests/python/workers/) through conftest.run_ranks, which kills
the launcher's whole process group on timeout: nothing is left running."""

from __future__ import annotations

import pytest

from conftest import expect_ok, run_ranks

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(180)]


def count_ok(out: str) -> int:
    return sum(1 for line in out.splitlines() if "OK rank" in line)


def test_collectives_2x2():
    out = expect_ok(run_ranks("collectives_worker.py", timeout=150))
    assert count_ok(out) == 4, out
    assert "timeout message:" in out


@pytest.mark.parametrize("codec,mode", [("fp32", "sync"), ("int8", "sync"), ("int8", "delayed")])
def test_ddp_hook_2x2(codec, mode):
    out = expect_ok(run_ranks("hook_worker.py", codec, mode, timeout=150))
    assert count_ok(out) == 4, out


@pytest.mark.parametrize("mode", ["sync", "overlap"])
def test_diloco_2x2(mode):
    out = expect_ok(run_ranks("diloco_worker.py", mode, timeout=150))
    assert count_ok(out) == 4, out


def test_peer_lost_is_raised_with_its_message():
    out = run_ranks("peer_lost_worker.py", timeout=150).stdout
    assert out.count("PeerLostError") + out.count("TimeoutError") >= 1, out
    assert "survivor saw" in out, out
