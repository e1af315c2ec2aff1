"""pytest set-up for the Python package: where isthmus and isthmus-run come from, and a helper
that runs a worker script on several ranks under isthmus-run with a hard timeout.

The package is imported as installed (pip install .) or from a CMake build tree when
ISTHMUS_PYTHONPATH (or PYTHONPATH) names <build>/python_bindings/pkg. Multi-process tests start
isthmus-run in its own process group and kill the whole group on timeout or failure, so nothing
is left running.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"

if os.environ.get("ISTHMUS_PYTHONPATH"):
    sys.path.insert(0, os.environ["ISTHMUS_PYTHONPATH"])


def launcher_path() -> str:
    import isthmus._launcher as launcher

    packaged = launcher.binary_path()
    if os.access(packaged, os.X_OK):
        return str(packaged)
    found = shutil.which("isthmus-run")
    if found:
        return found
    pytest.fail(f"isthmus-run not found (looked at {packaged} and PATH)")


def run_ranks(
    worker: str,
    *args: str,
    centers: int = 2,
    ranks_per_center: str | int = 2,
    timeout: float = 90,
    wan: str | None = None,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Runs tests/python/workers/<worker> on centers x ranks_per_center ranks; returns the
    completed launcher process (stdout and stderr merged in .stdout). Kills the process group
    on timeout and fails the test."""
    cmd = [launcher_path(), "--centers", str(centers), "--ranks-per-center", str(ranks_per_center)]
    if wan:
        cmd += ["--wan", wan]
    cmd += ["--", sys.executable, str(WORKERS / worker), *args]
    full_env = dict(os.environ)
    pkg = os.environ.get("ISTHMUS_PYTHONPATH")
    if pkg:
        full_env["PYTHONPATH"] = pkg + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.setdefault("OMP_NUM_THREADS", "1")
    # The job's shared secret (the ranks' handshakes prove it); fresh per test run.
    full_env.setdefault("ISTHMUS_JOB_SECRET", secrets.token_hex(16))
    full_env.update(env or {})
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        pytest.fail(f"{worker} timed out after {timeout} s; output:\n{out}")
    finally:
        # Whatever the launcher left in its group (it should leave nothing) goes too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def expect_ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}"
    return result.stdout


@pytest.fixture(scope="session")
def isthmus_single():
    """An isthmus communicator of one rank in this process (no store, no network)."""
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}.items():
        os.environ.setdefault(k, v)
    import isthmus

    if not isthmus.is_initialized():
        isthmus.init(timeout=30)
    return isthmus
