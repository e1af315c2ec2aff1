#!/usr/bin/env bash
# Validates the WAN emulator against peer tools (issue 3, acceptance 1-3): iperf3 throughput at
# 100mbit/1gbit/2gbit/5gbit with 8 streams, TCP connect/echo RTT at 10/40/100 ms, the long fat
# pipe at 1gbit/80ms (1 stream vs 8), and loss=1% in iperf3's retransmits. Prints a markdown
# table (docs/wan-emulation.md holds the recorded one). Needs root, iperf3, python3.
#
#   scripts/wan/validate.sh [BUILD_DIR] [--quick] [--only throughput|rtt|lfp|loss] [--out FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
shift || true
cli="$build/tools/wanem/isthmus-wanem"
if [[ ! -x "$cli" ]]; then
  echo "validate.sh: $cli not found; build it: cmake --build $build --target isthmus-wanem" >&2
  exit 2
fi
exec python3 "$here/validate.py" --cli "$cli" "$@"
