#!/usr/bin/env bash
# Issue 6, acceptance 3: without --wan, 1 center x 2 ranks on loopback, the CPU intra allreduce
# at 64 MiB against the ring bound implied by ucx_perftest's bandwidth, measured in the same run.
# For a ring allreduce busbw = algbw * 2(n-1)/n is bounded by the per-rank link bandwidth, so the
# bound is ucx_perftest tag_bw at 64 MiB between two processes with the same UCX transports the
# CPU group uses (UCX's default: shared memory where it can).
#
#   scripts/bench/collectives_intra.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-coll}
SIZE=$((64 << 20))
PORT=${PERFTEST_PORT:-$((20000 + RANDOM % 20000))}
OUT=${OUT:-$BUILD/bench-results/collectives-intra}
mkdir -p "$OUT"
export ISTHMUS_JOB_SECRET=${ISTHMUS_JOB_SECRET:-collectives-intra-bench}

ucx_perftest -t tag_bw -s $SIZE -n 40 -w 5 -p $PORT > "$OUT/perftest-server.txt" 2>&1 &
SERVER=$!
sleep 1
ucx_perftest 127.0.0.1 -t tag_bw -s $SIZE -n 40 -w 5 -p $PORT > "$OUT/perftest.txt" 2>&1 || true
wait $SERVER || true
# "Final:" line: ... bandwidth average (MB/s) is the 6th field after the label.
PERF_MBS=$(awk '/Final:/ {print $(NF-2)}' "$OUT/perftest.txt")
echo "ucx_perftest tag_bw 64 MiB: ${PERF_MBS} MB/s (MB = 2^20 B)"

"$BUILD/tools/launcher/isthmus-run" --centers 1 --ranks-per-center 2 -- \
  "$BUILD/bench/collectives/isthmus-bench" -b 64M -e 64M -w 3 -n 10 --codec fp32 \
  --json "$OUT/isthmus.json" 2>&1 | grep -E '^\[c0 r0\]  '
python3 - "$OUT/isthmus.json" "$PERF_MBS" <<'PYEOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
bound = float(sys.argv[2]) * 1048576 / 1e9
print(f"isthmus 1x2 intra allreduce 64 MiB: busbw {r['busbw_gbps']:.3f} GB/s; ring bound from "
      f"ucx_perftest {bound:.3f} GB/s; ratio {r['busbw_gbps'] / bound:.2f} (target >= 0.8)")
PYEOF
