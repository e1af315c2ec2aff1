#!/usr/bin/env bash
# isthmus-bench end to end: a size sweep with error feedback on 2 centers x 2 ranks (loopback).
# Every size must run (one error-feedback key per size), every rank agree bitwise, and int8 stay
# within its error bound. Usage: bench_sweep_test.sh BUILD_DIR
set -euo pipefail
B=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ISTHMUS_JOB_SECRET=bench-sweep-test timeout 100 "$B/tools/launcher/isthmus-run" --centers 2 \
  --ranks-per-center 2 --timeout 90 -- "$B/bench/collectives/isthmus-bench" -b 4K -e 256K -f 8 \
  -w 1 -n 2 --codec int8 --ef-key sweep --json "$out/r.json" > "$out/log" 2>&1 || {
  cat "$out/log"; echo "FAIL: isthmus-bench exited non-zero"; exit 1; }
python3 - "$out/r.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sizes = [r["bytes"] for r in rows]
assert sizes == [4096, 32768, 262144], sizes
for r in rows:
    assert r["agree"] is True, r
    assert r["relerr"] < 0.02, r
    assert len(r["times_s"]) == 2 and r["time_median_s"] > 0, r
print("ok:", sizes)
PY
