#!/usr/bin/env bash
# UCX transport bandwidth between two emulated centers (tools/wanem via isthmus-run --wan) for
# 1, 2, 4, 8, 16 lanes, as a fraction of the link rate. Needs root (network namespaces).
#
#   scripts/bench/transport_wan.sh [BUILD_DIR] [--links "1gbit:40 2gbit:80"] [--lanes "1 2 4 8 16"]
#                                  [--size BYTES] [--iters N] [--wan-extra ",tcpbuf=..."]
#
# Each rank runs in its own mount namespace with a fresh sysfs (unshare -m + mount -t sysfs), as
# `ip netns exec` does: UCX's tcp transport lists interfaces from /sys/class/net, and the host's
# sysfs does not show the namespace's wan0 (UCX then fails with "Destination is unreachable").
set -euo pipefail
BUILD=build
if [[ $# -gt 0 && $1 != --* ]]; then BUILD=$1; shift; fi
LINKS="1gbit:40 2gbit:80"
LANES="1 2 4 8 16"
SIZE=268435456
ITERS=2
EXTRA=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --links) LINKS=$2; shift 2 ;;
    --lanes) LANES=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --wan-extra) EXTRA=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
B=$(cd "$BUILD" && pwd)
RUN=$B/tools/launcher/isthmus-run
BENCH=$B/bench/transport/isthmus_transport_bench
for f in "$RUN" "$BENCH"; do [[ -x $f ]] || { echo "missing $f" >&2; exit 1; }; done
echo "# $(date -u +%FT%TZ) message $SIZE bytes x $ITERS (after 1 warm-up), UCX_TLS=tcp, windows from the link BDP"
printf "%-8s %-6s %5s | %10s %8s | %s\n" rate rtt lanes Gbit/s fraction relay
for link in $LINKS; do
  rate=${link%%:*}
  rtt=${link##*:}
  gbps=$(python3 -c "r='$rate'.lower(); print(float(r[:-4])*(1 if r.endswith('gbit') else 1e-3))")
  for lanes in $LANES; do
    out=$(timeout 600 "$RUN" --centers 2 --ranks-per-center 1 --wan "rate=$rate,rtt=${rtt}ms$EXTRA" \
      --timeout 500 -- unshare -m --propagation private sh -c \
      "{ [ -e /sys/class/net/wan0 ] || mount -t sysfs none /sys; } && exec $BENCH --mode bw --sizes $SIZE --lanes $lanes --iters $ITERS --warmup 1 --link-gbps $gbps --link-rtt-ms $rtt" 2>&1 || true)
    line=$(grep -E "^\[c0 r0\] $SIZE " <<<"$out" | tail -1 || true)
    got=$(awk '{print $5}' <<<"$line")
    verdict=$(grep -o 'verdict: [A-Z ]*' <<<"$out" | head -1 | cut -c10- || true)
    if [[ -z $got ]]; then
      printf "%-8s %-6s %5s | %10s %8s | %s\n" "$rate" "${rtt}ms" "$lanes" FAILED - "$(grep -E 'kTimeout|kPeerLost|error' <<<"$out" | head -1 || true)"
      continue
    fi
    frac=$(python3 -c "print(f'{$got/$gbps:.3f}')")
    printf "%-8s %-6s %5s | %10s %8s | %s\n" "$rate" "${rtt}ms" "$lanes" "$got" "$frac" "${verdict:-ok}"
  done
done
