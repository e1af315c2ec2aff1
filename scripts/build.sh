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
# ccache, when installed, makes rebuilds after a branch switch (or in a second checkout) cheap:
# paths are hashed relative to the checkout, so two checkouts share their objects.
launcher_args=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  launcher_args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
    -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$BUILD_DIR"
# Re-running the configure step is cheap and keeps the cache in step with these options.
cmake -S . -B "$BUILD_DIR" -G Ninja -DISTHMUS_WERROR=ON -DISTHMUS_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" "${cuda_args[@]}" "${launcher_args[@]}" \
  >"$BUILD_DIR/configure.log" 2>&1 \
  || { cat "$BUILD_DIR/configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j"$(nproc)"
