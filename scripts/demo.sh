#!/usr/bin/env bash
# The main job: 2 emulated centers x 2 ranks. Under the WAN emulator when root (or allowed to make
# network namespaces), plain loopback otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ISTHMUS_BUILD_DIR:-build}
wan_args=()
if [ "$(id -u)" = 0 ] && [ -f "$BUILD_DIR/tools/wanem/isthmus-wanem" ]; then
  wan_args=(--wan "rate=1gbit,rtt=40ms")
else
  echo "demo: not root or no WAN emulator: running on plain loopback"
fi
exec "$BUILD_DIR/tools/launcher/isthmus-run" --centers 2 --ranks-per-center 2 "${wan_args[@]}" \
  -- "$BUILD_DIR/examples/hello_centers"
