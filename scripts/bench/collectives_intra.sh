#!/usr/bin/env bash
# Issue 6, acceptance 3: without --wan, 1 center x 2 ranks on loopback, the CPU intra allreduce
# at 64 MiB against the ring bound implied by ucx_perftest's bandwidth, measured in the same run.
# For a ring allreduce busbw = algbw * 2(n-1)/n is bounded by the bandwidth of each rank's link
# while every rank sends at once. Two figures from ucx_perftest tag_bw at 64 MiB between two
# processes (UCX's default transports: shared memory / cross-memory attach where it can):
#   one stream alone   - one direction, the other core idle;
#   both directions    - two pairs at once, as the 2-rank ring runs (each rank sends while it
#                        receives), per-direction bandwidth = the mean of the two.
# On one host the "link" is the CPU copying memory, so the two differ by ~2x; both ratios print.
#
#   scripts/bench/collectives_intra.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
SIZE=$((64 << 20))
PORT=${PERFTEST_PORT:-$((20000 + RANDOM % 20000))}
OUT=${OUT:-$BUILD/bench-results/collectives-intra}
mkdir -p "$OUT"
export ISTHMUS_JOB_SECRET=${ISTHMUS_JOB_SECRET:-collectives-intra-bench}
PT=(-t tag_bw -s $SIZE -n 40 -w 5)

final() { awk '/Final:/ {print $(NF-2)}' "$1"; }

ucx_perftest "${PT[@]}" -p $PORT > "$OUT/perftest-server.txt" 2>&1 &
SERVER=$!
sleep 1
ucx_perftest 127.0.0.1 "${PT[@]}" -p $PORT > "$OUT/perftest.txt" 2>&1 || true
wait $SERVER || true
ONE=$(final "$OUT/perftest.txt")

ucx_perftest "${PT[@]}" -p $((PORT + 1)) > "$OUT/perftest-server-a.txt" 2>&1 &
SA=$!
ucx_perftest "${PT[@]}" -p $((PORT + 2)) > "$OUT/perftest-server-b.txt" 2>&1 &
SB=$!
sleep 1
ucx_perftest 127.0.0.1 "${PT[@]}" -p $((PORT + 1)) > "$OUT/perftest-a.txt" 2>&1 &
CA=$!
ucx_perftest 127.0.0.1 "${PT[@]}" -p $((PORT + 2)) > "$OUT/perftest-b.txt" 2>&1 || true
wait $CA $SA $SB || true
BOTH=$(python3 -c "print(($(final "$OUT/perftest-a.txt") + $(final "$OUT/perftest-b.txt")) / 2)")
echo "ucx_perftest tag_bw 64 MiB: one stream alone ${ONE} MB/s; both directions at once" \
  "${BOTH} MB/s per direction (MB = 2^20 B)"

"$BUILD/tools/launcher/isthmus-run" --centers 1 --ranks-per-center 2 -- \
  "$BUILD/bench/collectives/isthmus-bench" -b 64M -e 64M -w 3 -n 10 --codec fp32 \
  --json "$OUT/isthmus.json" 2>&1 | grep -E '^\[c0 r0\]  '
python3 - "$OUT/isthmus.json" "$ONE" "$BOTH" <<'PYEOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
one, both = (float(v) * 1048576 / 1e9 for v in sys.argv[2:4])
bw = r["busbw_gbps"]
print(f"isthmus 1x2 intra allreduce 64 MiB: busbw {bw:.3f} GB/s; ring bound from ucx_perftest: "
      f"both directions at once {both:.3f} GB/s -> ratio {bw / both:.2f}; one stream alone "
      f"{one:.3f} GB/s -> ratio {bw / one:.2f} (target >= 0.8)")
PYEOF
