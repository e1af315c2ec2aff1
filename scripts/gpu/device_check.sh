#!/usr/bin/env bash
# Every check that needs an NVIDIA GPU, built here and run on a GPU machine in one command.
#
#   scripts/gpu/device_check.sh bundle          # on the build host (this machine)
#   scripts/gpu/device_check.sh run [STEP ...]  # on the GPU machine
#
# The GPU machine has the CUDA driver, NCCL and a Python with torch, but not UCX, protobuf or
# GoogleTest, so nothing is compiled there. `bundle` configures build-gpu/ with CUDA, NCCL and the
# Python extension for the device's CPython (DEVICE_PY, default pyenv 3.12: the one its torch
# uses), builds the GPU tests, the GPU benchmark and the package, and copies them into DIR ($BUNDLE,
# default build-gpu/bundle) with the shared libraries they load, except the C library, the driver and
# NCCL. libstdc++ and libgcc_s go to DIR/lib-cxx and are used only where the machine's own are
# older than the ones the bundle was built against (a newer one, which torch may need, wins);
# common system libraries (zlib, OpenSSL, libnuma) go to DIR/lib-sys and are used only where the
# machine lacks them, so that Python's and torch's own copies are not replaced.
#
# `run` prints the GPU and libraries, then runs each STEP (default: all) under a hard timeout and
# ends with one line per step:
#   kernels      kernels_gpu_test: every GPU codec against the CPU reference, byte for byte
#   collectives  collectives_gpu_test: a GPU buffer's allreduce equals the host buffer's
#   nccl         transport_nccl_test: the NCCL group (2 processes on the GPUs present)
#   bench        isthmus_bench_kernels_gpu: codec throughput beside a device-to-device copy
#   python       tests/python/test_gpu.py: the DDP hook on CUDA tensors vs CPU, 4 processes
# Logs go to $OUT/device_check/ when OUT is set (the device tool's output folder).
#
# With the session's device tool:
#   scripts/gpu/device_check.sh bundle
#   run(command="scripts/gpu/device_check.sh run", carry=["build-gpu/bundle"])
set -euo pipefail
MODE=${1:-}
DIR=${BUNDLE:-build-gpu/bundle}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

copy_libs() {  # copy_libs FILE...: the shared libraries FILEs load into DIR/lib, lib-cxx, lib-sys
  ldd "$@" | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
    case $(basename "$lib") in
      libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libcuda.so* | \
        libnccl.so* | libpython*) ;;
      libstdc++.so* | libgcc_s.so*) cp -L "$lib" "$DIR/lib-cxx/" ;;
      libz.so* | libcrypto.so* | libssl.so* | libnuma.so*) cp -L "$lib" "$DIR/lib-sys/" ;;
      *) cp -L "$lib" "$DIR/lib/" ;;
    esac
  done
}

case $MODE in
  bundle)
    PY=${DEVICE_PY:-$HOME/.pyenv/versions/3.12.1/bin/python3.12}
    [[ -x $PY ]] || { echo "no Python for the device at $PY (set DEVICE_PY)" >&2; exit 2; }
    "$PY" -m nanobind --cmake_dir >/dev/null 2>&1 || "$PY" -m pip install -q nanobind
    BUILD=build-gpu
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DISTHMUS_ENABLE_CUDA=ON \
      -DISTHMUS_ENABLE_NCCL=ON -DISTHMUS_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PY" \
      -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc ${ISTHMUS_GPU_CMAKE_ARGS:-} >/dev/null
    cmake --build "$BUILD" -j"${JOBS:-2}" --target kernels_gpu_test collectives_gpu_test \
      transport_nccl_test isthmus_bench_kernels_gpu isthmus_python
    rm -rf "$DIR" && mkdir -p "$DIR/bin" "$DIR/lib" "$DIR/lib-cxx" "$DIR/lib-sys" "$DIR/site"
    cp "$BUILD/tests/gpu/kernels/kernels_gpu_test" "$BUILD/tests/gpu/collectives/collectives_gpu_test" \
      "$BUILD/tests/gpu/transport/transport_nccl_test" "$BUILD/bench/kernels/isthmus_bench_kernels_gpu" \
      "$DIR/bin/"
    cp -rL "$BUILD/python_bindings/pkg" "$DIR/pkg"
    find "$DIR/pkg" -name __pycache__ -prune -exec rm -rf {} +
    copy_libs "$DIR"/bin/* "$DIR"/pkg/isthmus/_C*.so "$DIR/pkg/isthmus/bin/isthmus-run"
    # UCX loads its transports' modules from a directory beside libucs (UCX_MODULE_DIR in `run`).
    ucs=$(ldd "$DIR"/pkg/isthmus/_C*.so | awk '/libucs.so/ {print $3; exit}')
    if [[ -n $ucs && -d $(dirname "$ucs")/ucx ]]; then
      mkdir -p "$DIR/lib/ucx" && cp -L "$(dirname "$ucs")"/ucx/libuct_cma.so.0 "$DIR/lib/ucx/"  # ib, rdmacm need verbs
    fi
    "$PY" -m pip install -q --target "$DIR/site" pytest pytest-timeout
    "$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' >"$DIR/python-version"
    echo "bundle in $DIR for CPython $(cat "$DIR/python-version"):"
    ls "$DIR/bin" "$DIR/lib" "$DIR/lib-cxx" "$DIR/lib-sys"
    du -sh "$DIR"
    ;;
  run)
    shift
    STEPS=("$@")
    [[ ${#STEPS[@]} -gt 0 ]] || STEPS=(kernels collectives nccl bench python)
    [[ -x $DIR/bin/kernels_gpu_test ]] || { echo "no bundle at $DIR: run '$0 bundle' here first" >&2; exit 2; }
    LOGS=${OUT:-/tmp}/device_check && mkdir -p "$LOGS"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    ldd --version 2>&1 | head -1 || true
    export LD_LIBRARY_PATH="$ROOT/$DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    deps=$(ldd "$DIR"/bin/* "$DIR"/pkg/isthmus/_C*.so 2>&1 || true)
    if grep -q "GLIBCXX.*not found\|libstdc++.*not found" <<<"$deps"; then
      echo "this machine's libstdc++ is older than the bundle's: using the bundled one"
      export LD_LIBRARY_PATH="$ROOT/$DIR/lib-cxx:$LD_LIBRARY_PATH"
    fi
    if grep -q "not found" <<<"$deps"; then
      echo "using the bundle's copies of: $(grep "not found" <<<"$deps" | awk '{print $1}' | sort -u | xargs)"
      export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$ROOT/$DIR/lib-sys"
    fi
    for d in /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu; do
      [[ -e $d/libnccl.so.2 ]] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d" && break
    done
    export UCX_MODULE_DIR="$ROOT/$DIR/lib/ucx"
    # The device's Python with a CUDA torch, of the version the extension was built for.
    want=$(cat "$DIR/python-version")
    PY=""
    for c in ${PYTHON:-} /opt/torch/.venv/bin/python python3 "python$want"; do
      command -v "$c" >/dev/null 2>&1 || continue
      if "$c" -c "import sys, torch; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' and torch.cuda.is_available() else 1)" 2>/dev/null; then
        PY=$(command -v "$c") && break
      fi
    done
    declare -A RESULT
    step() {  # step NAME SECONDS CMD...: runs CMD under a timeout, logs it, records its status
      local name=$1 secs=$2 rc=0
      shift 2
      echo "== $name: $*"
      timeout -k 10 "$secs" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
      grep -vE "^\[ +(OK|RUN) +\]" "$LOGS/$name.log" | tail -${TAIL:-40}
      if [[ $rc -ne 0 ]]; then
        RESULT[$name]="FAILED (exit $rc)"
      elif grep -q "no CUDA device\|SKIPPED \]" "$LOGS/$name.log"; then
        RESULT[$name]="SKIPPED (no GPU seen; see $LOGS/$name.log)"
      else
        RESULT[$name]=passed
      fi
    }
    for s in "${STEPS[@]}"; do
      case $s in
        kernels) step kernels 300 "$DIR/bin/kernels_gpu_test" --gtest_color=no ;;
        collectives) step collectives 300 "$DIR/bin/collectives_gpu_test" --gtest_color=no ;;
        nccl) NCCL_DEBUG=${NCCL_DEBUG:-WARN} step nccl 180 "$DIR/bin/transport_nccl_test" --gtest_color=no ;;
        bench) TAIL=60 step bench 300 "$DIR/bin/isthmus_bench_kernels_gpu" "${BENCH_MAX_MIB:-256}" "${BENCH_REPS:-20}" ;;
        python)
          if [[ -z $PY ]]; then
            echo "== python: no Python $want with a CUDA torch here (set PYTHON)"
            RESULT[python]="not run (no Python $want with CUDA torch)"
            continue
          fi
          "$PY" -c 'import torch; print("torch", torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))'
          ISTHMUS_PYTHONPATH="$ROOT/$DIR/pkg" PYTHONPATH="$ROOT/$DIR/site${PYTHONPATH:+:$PYTHONPATH}" \
            PYTHONFAULTHANDLER=1 step python 400 "$PY" -m pytest tests/python/test_gpu.py -m gpu -v -s \
            -p no:cacheprovider
          ;;
        *) echo "unknown step $s" >&2; exit 2 ;;
      esac
    done
    echo "== summary"
    failed=0
    for s in "${STEPS[@]}"; do
      echo "$s: ${RESULT[$s]}"
      [[ ${RESULT[$s]} == passed ]] || failed=1
    done
    exit $failed
    ;;
  *)
    echo "usage: $0 bundle          (on the build host)" >&2
    echo "       $0 run [STEP ...]  (on the GPU machine; steps: kernels collectives nccl bench python)" >&2
    exit 2
    ;;
esac
