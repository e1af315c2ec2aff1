#!/usr/bin/env bash
# Issue 7, acceptance 4, on a machine with an NVIDIA GPU: the DDP hook on CUDA tensors (one GPU,
# 4 processes under isthmus-run) gives the same losses as on CPU to within 1e-3 relative.
#
#   bash scripts/gpu/run_python_gpu.sh            # from the repository root
#
# Builds the extension with CUDA (and NCCL when found) in build-gpu-python/, then runs the gpu
# tests of tests/python with the package from that build tree. Prints both loss series.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
PY=$("$PY" -c 'import sys; print(sys.executable)')
nvidia-smi -L
"$PY" -c 'import torch; assert torch.cuda.is_available(), "torch sees no GPU"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
cmake -S . -B build-gpu-python -G Ninja -DISTHMUS_ENABLE_CUDA=ON -DISTHMUS_BUILD_TESTS=OFF \
  -DISTHMUS_BUILD_BENCH=OFF -DISTHMUS_BUILD_PYTHON=ON -DPython_EXECUTABLE="$PY"
cmake --build build-gpu-python -j"$(nproc)" --target isthmus_python
export ISTHMUS_PYTHONPATH=$PWD/build-gpu-python/python_bindings/pkg
"$PY" -m pytest tests/python/test_gpu.py -m gpu -v -s -p no:cacheprovider
