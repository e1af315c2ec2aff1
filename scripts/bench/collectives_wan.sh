#!/usr/bin/env bash
# Issue 6, acceptance 2: under an emulated WAN, 2 centers x 2 ranks, 256 MiB fp32:
#   isthmus int8 and int4 hierarchical allreduce vs torch Gloo all_reduce (flat, 4 ranks), and
#   isthmus's time vs the bound  bytes one way over the busiest inter-center link / rate + 2 RTT.
# Every measurement runs in this one script on the same emulated network (each is its own
# isthmus-run --wan, with identical link settings). Needs root (network namespaces).
#
#   scripts/bench/collectives_wan.sh [BUILD_DIR] [WAN_SPEC] [SIZE]
#   defaults: build-coll  "rate=1gbit,rtt=40ms"  256M
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-coll}
WAN=${2:-rate=1gbit,rtt=40ms}
SIZE=${3:-256M}
ITERS=${ITERS:-8}
GLOO_ITERS=${GLOO_ITERS:-2}
OUT=${OUT:-$BUILD/bench-results/collectives-wan}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
export ISTHMUS_JOB_SECRET=${ISTHMUS_JOB_SECRET:-collectives-wan-bench}
export GLOO_SOCKET_IFNAME=${GLOO_SOCKET_IFNAME:-wan0}
RUN=("$BUILD/tools/launcher/isthmus-run" --centers 2 --ranks-per-center 2 --wan "$WAN" --timeout 900 --)

for codec in int8 int4; do
  echo "== isthmus-bench $codec =="
  "${RUN[@]}" "$BUILD/bench/collectives/isthmus-bench" -b "$SIZE" -e "$SIZE" -w 1 -n "$ITERS" \
    --codec "$codec" --ef-key wan --json "$OUT/isthmus-$codec.json" 2>&1 | grep -E '^\[c0 r0\]|verdict' || true
done
echo "== torch gloo all_reduce =="
"${RUN[@]}" "$PY" scripts/bench/collectives_gloo_allreduce.py -b "$SIZE" -e "$SIZE" -w 1 \
  -n "$GLOO_ITERS" --json "$OUT/gloo.json" 2>&1 | grep -E '^\[c0 r0\]|verdict' || true

"$PY" - "$OUT" "$WAN" <<'PYEOF'
import json, re, sys
out, wan = sys.argv[1], sys.argv[2]
spec = dict(kv.split("=") for kv in wan.split(","))
rate = spec["rate"]; m = re.match(r"([\d.]+)([kmg]?)bit", rate)
bps = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)]
rtt = float(spec["rtt"].rstrip("ms")) / 1e3
gloo = json.loads(open(f"{out}/gloo.json").read().splitlines()[-1])
print(f"# WAN {wan}; torch gloo all_reduce {gloo['bytes']} B: {gloo['time_s']:.3f} s")
for codec in ("int8", "int4"):
    r = json.loads(open(f"{out}/isthmus-{codec}.json").read().splitlines()[-1])
    # 2 centers x 2 ranks: what center 0's ranks send to center 1 is half of all inter bytes.
    one_way = r["inter_bytes_per_iter_all_ranks"] / 2
    bound = one_way * 8 / bps + 2 * rtt
    print(f"isthmus {codec}: {r['time_s']:.3f} s (min {r['time_min_s']:.3f}), relerr {r['relerr']:.2e}, "
          f"agree {r['agree']}; speed-up vs gloo {gloo['time_s'] / r['time_s']:.2f}x; "
          f"bound {bound:.3f} s ({one_way / 1e6:.1f} MB one way), time/bound {r['time_s'] / bound:.2f}")
PYEOF
