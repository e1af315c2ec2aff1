#!/usr/bin/env bash
# Point-to-point bandwidth and latency of the Isthmus UCX transport beside `ucx_perftest`
# (tag_bw / tag_lat) for the same sizes, in the same run, on loopback with UCX_TLS=tcp.
#
#   scripts/bench/transport_vs_perftest.sh [BUILD_DIR] [--sizes 4096,...] [--lanes L] [--mb MB]
#                                          [--reps R]
#
# BUILD_DIR defaults to ./build; it must contain bench/transport/isthmus_transport_bench.
# Prints one table: size, ucx_perftest MB/s, isthmus MB/s, ratio, and the same for latency (usec).
# MB = 2^20 bytes (ucx_perftest's unit). Each size moves about --mb MiB (default 512) per tool and
# repetition. The two tools alternate, size by size, R times (default 3), and the table shows the
# median of each, so a burst of load on a shared host hits both rather than one.
set -euo pipefail
BUILD=build
if [[ $# -gt 0 && $1 != --* ]]; then BUILD=$1; shift; fi
SIZES=4096,16384,65536,262144,1048576,4194304,16777216,67108864,268435456
LANES=1
MB=512
REPS=3
while [[ $# -gt 0 ]]; do
  case $1 in
    --sizes) SIZES=$2; shift 2 ;;
    --lanes) LANES=$2; shift 2 ;;
    --mb) MB=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
BENCH=$BUILD/bench/transport/isthmus_transport_bench
[[ -x $BENCH ]] || { echo "missing $BENCH (cmake --build $BUILD --target isthmus_transport_bench)" >&2; exit 1; }
command -v ucx_perftest >/dev/null || { echo "ucx_perftest not found (apt-get install ucx-utils)" >&2; exit 1; }
export UCX_TLS=tcp
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# perftest TEST SIZE ITERS -> prints "<MB/s overall> <usec average>" from the Final: line
perftest() {
  local test=$1 size=$2 iters=$3 port
  port=$(free_port)
  timeout 300 ucx_perftest -t "$test" -s "$size" -n "$iters" -w 2 -p "$port" >"$TMP/srv" 2>&1 &
  local srv=$!
  PIDS+=("$srv")
  sleep 0.5
  timeout 300 ucx_perftest 127.0.0.1 -t "$test" -s "$size" -n "$iters" -w 2 -p "$port" >"$TMP/cli" 2>&1 || true
  wait "$srv" 2>/dev/null || true
  awk '/^Final:/ {print $7, $4}' "$TMP/cli"
}

iters_bw() { python3 -c "print(int(min(2000, max(4, $MB*2**20/$1))))"; }
iters_lat() { python3 -c "print(int(min(1000, max(3, $MB*2**20/16/$1))))"; }

median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:] if x not in ('', 'nan')]; print(statistics.median(v) if v else float('nan'))" "$@"; }
isthmus() {  # MODE SIZE -> the bench's line for SIZE
  "$BENCH" --mode "$1" --sizes "$2" --lanes "$LANES" --bytes-per-size "$MB" 2>"$TMP/err" | awk -v s="$2" '$1==s' || { cat "$TMP/err" >&2; }
}

echo "# $(date -u +%FT%TZ) $(uname -n) UCX_TLS=tcp lanes=$LANES reps=$REPS (median); $(ucx_info -v | head -1)"
printf "%12s | %12s %12s %6s | %12s %12s %6s\n" bytes perftest_MB/s isthmus_MB/s ratio perftest_us isthmus_us ratio
IFS=, read -ra LIST <<<"$SIZES"
for s in "${LIST[@]}"; do
  PB=() IB=() PL=() IL=()
  for ((r = 0; r < REPS; r++)); do
    read -r pbw _ < <(perftest tag_bw "$s" "$(iters_bw "$s")")
    PB+=("${pbw:-nan}")
    IB+=("$(isthmus bw "$s" | awk '{print $2}')")
    read -r _ plat < <(perftest tag_lat "$s" "$(iters_lat "$s")")
    PL+=("${plat:-nan}")
    IL+=("$(isthmus lat "$s" | awk '{print $4}')")
  done
  python3 - "$s" "$(median "${PB[@]}")" "$(median "${IB[@]}")" "$(median "${PL[@]}")" "$(median "${IL[@]}")" <<'PY'
import sys
s, pbw, ibw, plat, ilat = sys.argv[1], *map(float, sys.argv[2:])
r = ibw / pbw if pbw == pbw and pbw > 0 else float("nan")
q = ilat / plat if plat == plat and plat > 0 else float("nan")
print(f"{int(s):12d} | {pbw:12.1f} {ibw:12.1f} {r:6.2f} | {plat:12.1f} {ilat:12.1f} {q:6.2f}")
PY
done
