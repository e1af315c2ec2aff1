#!/usr/bin/env bash
# Configures and builds Isthmus in build/, incrementally. Warnings are errors here, as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ISTHMUS_BUILD_DIR:-build}
cuda_args=()
if [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
else
  echo "build: no nvcc under /usr/local/cuda: building without CUDA and NCCL"
fi
mkdir -p "$BUILD_DIR"
# Re-running the configure step is cheap and keeps the cache in step with these options.
cmake -S . -B "$BUILD_DIR" -G Ninja -DISTHMUS_WERROR=ON -DISTHMUS_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" "${cuda_args[@]}" >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j"$(nproc)"
