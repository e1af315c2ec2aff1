#!/usr/bin/env bash
# The main job (examples/train_gpt.py): a small GPT trained across 2 emulated centers x 2 ranks in
# three modes (flat Gloo DDP, the int8 hierarchical hook, DiLoCo int8). Under the WAN emulator when
# root, plain loopback otherwise (the script says which). Ends with a table and out/train_gpt/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ISTHMUS_BUILD_DIR:-build}
export PYTHONPATH="$PWD/$BUILD_DIR/python_bindings/pkg${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python examples/train_gpt.py "$@"
