#!/usr/bin/env bash
# Runs the NCCL group's GPU test (tests/gpu/transport, target transport_nccl_test) on a machine
# with a GPU that has the CUDA runtime but not UCX, protobuf or GoogleTest.
#
# Two steps, because the GPU machine cannot build the project (no protobuf/UCX/gtest there):
#   1. here (the build host):   scripts/gpu/run_nccl_test.sh bundle [BUNDLE_DIR]
#      configures build-gpu-nccl/ with CUDA and NCCL on, builds transport_nccl_test and copies it
#      with the shared libraries it needs that a CUDA machine may lack (libcudart, libstdc++,
#      libgcc_s) into BUNDLE_DIR (default build-gpu-nccl/bundle, ~8 MB). libnccl.so.2 (218 MB) is NOT
#      copied: the GPU machine must have NCCL 2.x (e.g. /usr/local/cuda/lib64 or
#      /usr/lib/x86_64-linux-gnu); `run` says so plainly if it does not.
#   2. there (the GPU machine): scripts/gpu/run_nccl_test.sh run [BUNDLE_DIR]
#      prints the GPUs and libraries found, runs the test and exits with its status.
# With the session's device tool: run step 1 here, then
#   run(command="scripts/gpu/run_nccl_test.sh run build-gpu-nccl/bundle", carry=["build-gpu-nccl/bundle"])
set -euo pipefail
MODE=${1:-}
DIR=${2:-build-gpu-nccl/bundle}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

case $MODE in
  bundle)
    cd "$ROOT"
    BUILD=build-gpu-nccl
    cmake -S . -B "$BUILD" -G Ninja -DISTHMUS_ENABLE_CUDA=ON -DISTHMUS_ENABLE_NCCL=ON \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc ${ISTHMUS_GPU_CMAKE_ARGS:-} >/dev/null
    cmake --build "$BUILD" -j"${JOBS:-2}" --target transport_nccl_test
    rm -rf "$DIR" && mkdir -p "$DIR/lib"  # DIR only (default build-gpu-nccl/bundle)
    cp "$BUILD/tests/gpu/transport/transport_nccl_test" "$DIR/"
    # Copy every resolved shared library except the C library family, the driver and NCCL.
    ldd "$DIR/transport_nccl_test" | awk '/=> \// {print $3}' | while read -r lib; do
      case $(basename "$lib") in
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcuda.so*|libnccl.so*) ;;
        *) cp -L "$lib" "$DIR/lib/" ;;
      esac
    done
    echo "bundle in $DIR:"; ls -la "$DIR" "$DIR/lib"
    du -sh "$DIR"
    ;;
  run)
    cd "$ROOT"
    [[ -x $DIR/transport_nccl_test ]] || { echo "no bundle at $DIR: run '$0 bundle' on the build host" >&2; exit 2; }
    nvidia-smi -L || echo "nvidia-smi found no GPU"
    for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
      [[ -e $d/libnccl.so.2 ]] && NCCL_DIR=$d && break
    done
    if [[ -z ${NCCL_DIR:-} ]]; then
      NCCL_DIR=$(ldconfig -p 2>/dev/null | awk '/libnccl.so.2/ {print $NF; exit}' | xargs -r dirname || true)
    fi
    if [[ -z ${NCCL_DIR:-} ]]; then
      echo "NCCL (libnccl.so.2) is not installed on this machine: the test cannot run here." >&2
      exit 3
    fi
    export LD_LIBRARY_PATH="$DIR/lib:$NCCL_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "NCCL from $NCCL_DIR"; ldd "$DIR/transport_nccl_test" | grep -E 'nccl|cudart|not found' || true
    export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
    timeout 300 "$DIR/transport_nccl_test" --gtest_color=no
    ;;
  *)
    echo "usage: $0 bundle [BUNDLE_DIR]   (on the build host)" >&2
    echo "       $0 run [BUNDLE_DIR]      (on the GPU machine)" >&2
    exit 2
    ;;
esac
