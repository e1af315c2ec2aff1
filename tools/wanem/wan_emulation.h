// WAN emulation: puts each center in its own network namespace and joins the centers through
// emulated wide-area links (rate, round-trip time, jitter, loss, a tail-drop queue), per pair.
//
// Contract
// - WanEmulation::start(n, spec) creates n network namespaces named
//   "isthmus-wan-<pid>-<starttime>-<instance>-c<center>" (bind-mounted under /run/netns, so
//   `ip netns list` shows them and `ip netns exec NAME ...` works), brings `lo` up in each, and
//   gives each a TUN device "wan0" (MTU 1500) with address(center) = 10.77.0.<center+1>/24.
//   Nothing routes anywhere else: a namespace holds only `lo` and `wan0`.
// - Traffic between centers goes through a userspace relay (threads in the caller's process)
//   that reads each wan0, schedules every packet on the (src, dst) direction's link
//   (finish = max(now, lastFinish) + wireBytes / rate; due = finish + rtt/2 (+ jitter, order
//   kept)), drops it for loss or when the emulated queue is full, and writes it into the
//   destination's wan0 at its due time. Traffic inside a center (loopback, shared memory) never
//   touches the relay.
// - The relay tells the user when it cannot keep up: packets written later than
//   spec.lateToleranceMs after their due time, packets dropped because the relay's own buffer
//   or a TUN device's queue overflowed. A warning line with counts goes to the log (every
//   second while it happens) and stats() reports the same counters.
// - Each namespace gets TCP settings from spec.tcp (default: congestion control cubic, the
//   namespace's default tcp_rmem/tcp_wmem). See docs/wan-emulation.md.
// - Teardown: stop() (or the destructor) stops the relay, closes the TUN devices and deletes the
//   namespaces; processes still inside a deleted namespace keep it alive but are cut off.
//   This library installs no signal handlers: a caller that wants Ctrl-C teardown catches the
//   signal and calls stop(). If the owner process dies without stop() (SIGKILL, crash), its TUN
//   devices vanish with it and its namespaces stay behind until cleanupStaleNamespaces() runs;
//   start() runs it first, so the next start cleans up.
// - Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and /dev/net/tun; checkPrivileges() says why
//   not. Unprivileged user namespaces are not supported (see docs/wan-emulation.md).
//
// Threads: start(), stop(), the destructor and stats() may be called from any thread; stop() and
// the destructor must not run concurrently with each other. Every descriptor the emulation opens
// is close-on-exec, so a forked child that exec()s inherits none of them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/status.h"

namespace isthmus::wanem {

// One emulated link between two centers. It applies in both directions, each direction with its
// own full rate (full duplex) and one-way delay rttMs / 2.
struct LinkParams {
  // Link rate counted in IP bytes on the wire (no layer-2 framing), each TCP segment of a GSO
  // super-packet with its own headers. TCP goodput with MTU 1500 is then ~96.5% of the rate.
  double rateBitsPerSec = 1e9;
  double rttMs = 40.0;    // round-trip propagation delay, split evenly between the directions
  double jitterMs = 0.0;  // each packet's one-way delay gets a uniform extra in [-jitter, +jitter]
                          // (clamped at 0), packet order is kept
  double lossRate = 0.0;  // 0..1, independent drop probability per packet on the wire
  double queueMs = -1.0;  // tail-drop queue limit in milliseconds of link time; < 0: automatic
                          // (see effectiveQueueMs)

  // The queue limit in use: queueMs when >= 0, else max(5 ms, rttMs / 2).
  double effectiveQueueMs() const;
  // "rate=1gbit,rtt=40ms,jitter=0ms,loss=0,queue=20ms"
  std::string toString() const;
};

// TCP settings written into every namespace (net.ipv4.* sysctls of that namespace).
struct TcpSettings {
  std::string congestionControl = "cubic";  // one of net.ipv4.tcp_available_congestion_control
  int64_t maxBufferBytes = 0;  // > 0: tcp_rmem and tcp_wmem maximum; 0: the namespace default
  // net.ipv4.tcp_slow_start_after_idle: true (the kernel's default) restarts slow start on a
  // connection idle for an RTO, as between the steps of a training job; tuned WAN gateways turn
  // it off. Spec key: slowstart_after_idle=1|0.
  bool slowStartAfterIdle = true;
};

struct WanSpec {
  LinkParams defaults;
  // Overrides for a pair of centers, key (a, b) with a < b; applies in both directions.
  std::map<std::pair<int, int>, LinkParams> perPair;
  TcpSettings tcp;
  // A packet written to its destination later than this after its due time counts as late.
  double lateToleranceMs = 1.0;

  // The parameters of the link between centers a and b (either order).
  const LinkParams& link(int a, int b) const;
  // Round-trips through parseWanSpec.
  std::string toString() const;
};

// Parses a WAN spec:
//   "rate=1gbit,rtt=40ms,loss=0,jitter=0ms"                (defaults for every pair)
//   "rate=1gbit,rtt=40ms;0-1:rate=100mbit,rtt=80ms"        (then per-pair sections "a-b:")
// Keys: rate (bit, kbit, mbit, gbit, tbit; 1000-based), rtt, jitter, queue (us, ms, s), loss
// ("1%" or "0.01"); only in the first section: slowstart_after_idle (1 or 0), cc (congestion
// control), tcpbuf ("default" or a size: 128m, 128MiB, 134217728; 1024-based), late (late
// tolerance, a time). Keys left out keep their defaults (rate=1gbit, rtt=40ms, jitter=0, loss=0,
// queue=auto, cc=cubic, tcpbuf=default, late=1ms). Errors are kInvalidArgument and name the key and
// the bad value.
Result<WanSpec> parseWanSpec(const std::string& text);

// Checks a spec against a number of centers (pairs in range, a != b, values sane).
Status validateWanSpec(const WanSpec& spec, int numCenters);

// A link as a topology file declares it (runtime/topology.h LinkSpec has the same fields).
struct PairLink {
  int a = 0;
  int b = 0;
  double bandwidthGbps = 0;  // <= 0: keep the default rate
  double rttMs = -1;         // < 0: keep the default rtt
  double lossPercent = 0;
  double jitterMs = 0;
};
// base with one perPair entry per link (fields left unset keep base.defaults' values).
WanSpec wanSpecFromLinks(const WanSpec& base, const std::vector<PairLink>& links);

// OK when this process can create namespaces and TUN devices; otherwise kNotSupported with a
// message that says what is missing (not root, no CAP_NET_ADMIN/CAP_SYS_ADMIN, no /dev/net/tun).
Status checkPrivileges();

// Every namespace name this library creates starts with this prefix.
inline constexpr const char* kNetnsPrefix = "isthmus-wan-";

// Deletes namespaces of our naming scheme whose owner process (pid and start time in the name)
// is gone. Namespaces of live owners, e.g. a test running in parallel, are never touched.
// `removed`, when not null, receives how many were deleted.
Status cleanupStaleNamespaces(int* removed = nullptr);

// Counters of one direction (src -> dst). Packets count segments on the wire: a GSO
// super-packet of n segments counts n.
struct DirectionStats {
  int src = 0;
  int dst = 0;
  uint64_t packetsIn = 0;   // read from src's wan0 for dst
  uint64_t bytesIn = 0;     // wire bytes of those
  uint64_t packetsOut = 0;  // written into dst's wan0
  uint64_t bytesOut = 0;
  uint64_t droppedLoss = 0;     // emulated random loss
  uint64_t droppedQueue = 0;    // emulated tail drop (queue limit): part of the emulation
  uint64_t droppedOverrun = 0;  // relay buffer full: the relay could not keep up
  uint64_t latePackets = 0;     // written more than lateToleranceMs after due
  double maxLateMs = 0;         // worst lateness seen
  uint64_t writeErrors = 0;     // write() into dst's wan0 failed
  uint64_t framesIn = 0;        // read() calls that returned a packet for dst (GSO batching:
  uint64_t framesOut = 0;       // packetsIn / framesIn segments per system call)
  double writeBusySec = 0;      // time the writer spent inside write() (kernel receive path)
  // Frames by how late they were written: < 0.1, 0.25, 0.5, 1, 2, 5, 10 ms, and >= 10 ms.
  static constexpr int kLateBuckets = 8;
  uint64_t lateHistogram[kLateBuckets] = {};
};

struct WanStats {
  std::vector<DirectionStats> directions;  // every ordered pair (src != dst)
  std::vector<uint64_t> tunTxDropped;      // per center: packets its wan0 dropped before the
                                           // relay read them (the relay fell behind)
  uint64_t unroutable = 0;                 // packets to no known center, or not IPv4
  // True when nothing says the relay fell behind: no late, overrun or TUN-dropped packets.
  bool keptUp() const;
  // One line per direction plus a verdict, for logs and the CLI.
  std::string toString() const;
};

class WanEmulation {
 public:
  // Cleans up stale namespaces, checks privileges, creates the namespaces and TUN devices,
  // starts the relay. On failure everything created so far is removed again.
  static Result<std::unique_ptr<WanEmulation>> start(int numCenters, const WanSpec& spec);
  ~WanEmulation();  // calls stop(); a failure is logged

  WanEmulation(const WanEmulation&) = delete;
  WanEmulation& operator=(const WanEmulation&) = delete;

  int numCenters() const;
  const WanSpec& spec() const;
  // "isthmus-wan-4242-123456-0-c1"
  const std::string& netnsName(int center) const;
  // "/run/netns/<name>": open() it and setns(fd, CLONE_NEWNET) to enter the center.
  std::string netnsPath(int center) const;
  // "10.77.0.<center+1>": the center's address on the emulated WAN.
  std::string address(int center) const;
  // The TUN interface inside every namespace: "wan0".
  static const char* interfaceName();
  // The TCP settings the namespaces ended up with, as read back, for the record:
  // "tcp_congestion_control=cubic tcp_rmem=4096 131072 6291456 tcp_wmem=4096 16384 4194304".
  const std::string& tcpSettings() const;

  // Stops the relay, closes the TUN devices, deletes the namespaces, logs the final counters
  // (a warning when the relay did not keep up). Idempotent.
  Status stop();
  // Counters so far (safe while running and after stop()).
  WanStats stats() const;

  class Impl;

 private:
  explicit WanEmulation(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace isthmus::wanem
