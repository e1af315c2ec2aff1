#!/usr/bin/env bash
# Installs what Isthmus needs on a fresh Debian 12 machine, idempotently:
#   - Debian packages (only when one is missing, so a warm run costs nothing),
#   - a Python virtual environment in .venv with the packages in requirements-dev.txt
#     (re-installed only when that file changes).
# CUDA (nvcc) and NCCL are not Debian packages: they are used from /usr/local/cuda when present,
# and the build leaves CUDA out when they are not (the configure step says so).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build git pkg-config
  libucx-dev ucx-utils
  libprotobuf-dev protobuf-compiler
  libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format libclang-rt-14-dev
  iproute2 iperf3 procps ccache
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The real interpreter, not a pyenv shim (CMake's FindPython trips over shims).
PYTHON=${ISTHMUS_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.isthmus-requirements
if [ ! -f "$stamp" ] || ! cmp -s requirements-dev.txt "$stamp"; then
  echo "setup: installing Python packages from requirements-dev.txt"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
fi
