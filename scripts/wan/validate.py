#!/usr/bin/env python3
"""Runs the WAN emulator validation cases and prints a markdown table (see validate.sh)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

IPERF_SH = r"""
set -u
P=$1; T=$2; O=$3; OUT=$4
ip netns exec "$ISTHMUS_WAN_NETNS_1" iperf3 -s -1 -B "$ISTHMUS_WAN_ADDR_1" -p 5201 >/dev/null 2>&1 &
srv=$!
for i in $(seq 1 50); do
  ip netns exec "$ISTHMUS_WAN_NETNS_1" ss -ltn 2>/dev/null | grep -q ':5201 ' && break
  sleep 0.1
done
ip netns exec "$ISTHMUS_WAN_NETNS_0" iperf3 -c "$ISTHMUS_WAN_ADDR_1" -p 5201 -P "$P" -t "$T" -O "$O" -J > "$OUT"
rc=$?
wait $srv
exit $rc
"""

RTT_SH = r"""
set -u
CLI=$1; N=$2; OUT=$3; PORTFILE=$(mktemp -u)
ip netns exec "$ISTHMUS_WAN_NETNS_1" "$CLI" echo-server --bind "$ISTHMUS_WAN_ADDR_1" --port-file "$PORTFILE" >/dev/null &
srv=$!
for i in $(seq 1 100); do [ -s "$PORTFILE" ] && break; sleep 0.05; done
ip netns exec "$ISTHMUS_WAN_NETNS_0" "$CLI" probe --connect "$ISTHMUS_WAN_ADDR_1:$(cat "$PORTFILE")" --count "$N" > "$OUT"
rc=$?
kill -INT $srv; wait $srv; rm -f "$PORTFILE"
exit $rc
"""

WIRE_EFFICIENCY = 1448.0 / 1500.0  # TCP payload per IP byte at MTU 1500 with timestamps


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_case(cli, spec, script, args, tmp):
    stats = os.path.join(tmp, "stats.json")
    if os.path.exists(stats):
        os.remove(stats)
    cmd = [cli, "run", "--centers", "2", "--wan", spec, "--stats-json", stats, "--",
           "bash", script] + args
    load_before = loadavg()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"validate: case {spec} failed with status {p.returncode}")
    with open(stats) as f:
        s = json.load(f)
    s["load"] = (load_before + loadavg()) / 2
    return s


def tcp_label(tcp):
    """'tcp_congestion_control=cubic tcp_rmem=a b c tcp_wmem=a b c' -> 'cubic, rmem/wmem max 32/4 MiB'."""
    words = tcp.replace("=", " ").split()
    cc = words[words.index("tcp_congestion_control") + 1]
    rmem = int(words[words.index("tcp_rmem") + 3]) >> 20
    wmem = int(words[words.index("tcp_wmem") + 3]) >> 20
    return f"{cc}, rmem/wmem max {rmem}/{wmem} MiB"


def relay_summary(s):
    late = sum(d["late_packets"] for d in s["directions"])
    sent = sum(d["packets_out"] for d in s["directions"])
    worst = max(d["max_late_ms"] for d in s["directions"])
    overrun = sum(d["dropped_overrun"] for d in s["directions"])
    verdict = "kept up" if s["kept_up"] else \
        f"late {late}/{sent} pkts (max {worst:.1f} ms), overrun {overrun}, tun drops {sum(s['tun_tx_dropped'])}"
    return verdict


def iperf(cli, spec, streams, seconds, omit, tmp):
    script = os.path.join(tmp, "iperf.sh")
    out = os.path.join(tmp, "iperf.json")
    s = run_case(cli, spec, script, [str(streams), str(seconds), str(omit), out], tmp)
    with open(out) as f:
        d = json.load(f)
    end = d["end"]
    return {
        "goodput": end["sum_received"]["bits_per_second"],
        "retrans": end["sum_sent"].get("retransmits", 0),
        "stats": s,
        "cpu_cores": s["relay_cpu_seconds"] / s["wall_seconds"],
    }


def rtt(cli, spec, count, tmp):
    script = os.path.join(tmp, "rtt.sh")
    out = os.path.join(tmp, "rtt.txt")
    s = run_case(cli, spec, script, [cli, str(count), out], tmp)
    res = {"stats": s}
    with open(out) as f:
        for line in f:
            kind, rest = line.split(" ", 1)
            fields = dict(kv.split("=") for kv in rest.split(" ms")[0].split())
            res[kind] = {k: float(v) for k, v in fields.items()}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--quick", action="store_true", help="shorter iperf3 runs (5 s)")
    ap.add_argument("--only", choices=["throughput", "rtt", "lfp", "loss"])
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    cli = os.path.abspath(args.cli)
    secs, omit = (5, 2) if args.quick else (10, 2)
    lines = []

    def emit(line=""):
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory(prefix="wanem-validate-") as tmp:
        with open(os.path.join(tmp, "iperf.sh"), "w") as f:
            f.write(IPERF_SH)
        with open(os.path.join(tmp, "rtt.sh"), "w") as f:
            f.write(RTT_SH)
        host = subprocess.run(["uname", "-r"], stdout=subprocess.PIPE, text=True).stdout.strip()
        emit(f"Kernel {host}, {os.cpu_count()} CPUs; iperf3 {secs} s per run, first {omit} s omitted; "
             "load = 1-min load average during the run.")
        emit()
        if args.only in (None, "throughput"):
            emit("### Throughput (iperf3, 8 streams, rtt=40ms)")
            emit()
            emit("| setting | TCP in namespaces | goodput | goodput / rate | goodput / IP-wire max "
                 "| retransmits | relay CPU (cores) | relay | load | within 5% |")
            emit("|---|---|---|---|---|---|---|---|---|---|")
            cases = [("100mbit", 1e8, ""), ("1gbit", 1e9, ""), ("2gbit", 2e9, ""),
                     ("5gbit", 5e9, ""), ("5gbit", 5e9, ",tcpbuf=128m")]
            for name, rate, extra in cases:
                spec = f"rate={name},rtt=40ms{extra}"
                r = iperf(cli, spec, 8, secs, omit, tmp)
                ratio = r["goodput"] / rate
                emit(f"| `{spec}` | {tcp_label(r['stats']['tcp'])} | {r['goodput'] / 1e9:.3f} Gbit/s | "
                     f"{ratio * 100:.1f}% | {ratio / WIRE_EFFICIENCY * 100:.1f}% | {r['retrans']} | "
                     f"{r['cpu_cores']:.2f} | {relay_summary(r['stats'])} | {r['stats']['load']:.1f} | "
                     f"{'yes' if ratio >= 0.95 else 'NO'} |")
            emit()
        if args.only in (None, "rtt"):
            emit("### Round-trip time (TCP connect and 64-byte echo, 20 samples, rate=1gbit)")
            emit()
            emit("| setting | connect median (min..max) | echo median (min..max) | tolerance "
                 "| relay | load | within |")
            emit("|---|---|---|---|---|---|---|")
            for ms in (10, 40, 100):
                spec = f"rate=1gbit,rtt={ms}ms"
                r = rtt(cli, spec, 20, tmp)
                tol = 1 + 0.05 * ms
                c, e = r["connect_rtt"], r["echo_rtt"]
                ok = abs(c["median"] - ms) <= tol and abs(e["median"] - ms) <= tol
                emit(f"| `{spec}` | {c['median']:.2f} ({c['min']:.2f}..{c['max']:.2f}) ms | "
                     f"{e['median']:.2f} ({e['min']:.2f}..{e['max']:.2f}) ms | ±{tol:.2f} ms | "
                     f"{relay_summary(r['stats'])} | {r['stats']['load']:.1f} | {'yes' if ok else 'NO'} |")
            emit()
        if args.only in (None, "lfp"):
            emit("### Long fat pipe (rate=1gbit, rtt=80ms)")
            emit()
            emit("| streams | TCP in namespaces | goodput | retransmits | relay | load |")
            emit("|---|---|---|---|---|---|")
            lfp_secs = max(secs, 10) + 5
            for streams, extra in ((1, ""), (8, ""), (1, ",tcpbuf=128m")):
                spec = f"rate=1gbit,rtt=80ms{extra}"
                r = iperf(cli, spec, streams, lfp_secs, 3, tmp)
                emit(f"| {streams} (`{spec}`) | {tcp_label(r['stats']['tcp'])} | {r['goodput'] / 1e9:.3f} Gbit/s | "
                     f"{r['retrans']} | {relay_summary(r['stats'])} | {r['stats']['load']:.1f} |")
            emit()
        if args.only in (None, "loss"):
            emit("### Loss (iperf3, 8 streams, rtt=40ms, whole run incl. slow start)")
            emit()
            emit("| setting | goodput | iperf3 retransmits | retransmits / data packets "
                 "| relay: lost / wire packets | relay | load |")
            emit("|---|---|---|---|---|---|---|")
            for spec in ("rate=1gbit,rtt=40ms,loss=0", "rate=1gbit,rtt=40ms,loss=1%"):
                # No omitted interval: retransmits and the relay's packets cover the same run.
                r = iperf(cli, spec, 8, secs, 0, tmp)
                d = r["stats"]["directions"]
                lost = sum(x["dropped_loss"] for x in d)
                wire = sum(x["packets_in"] for x in d)
                data = next(x for x in d if x["src"] == 0)["packets_in"]
                emit(f"| `{spec}` | {r['goodput'] / 1e6:.1f} Mbit/s | {r['retrans']} | "
                     f"{100.0 * r['retrans'] / max(data, 1):.2f}% | {lost} / {wire} = {100.0 * lost / max(wire, 1):.2f}% | "
                     f"{relay_summary(r['stats'])} | {r['stats']['load']:.1f} |")
            emit()
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
