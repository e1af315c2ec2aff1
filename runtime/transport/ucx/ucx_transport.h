// UcxTransport: the Transport (runtime/transport/transport.h) over UCX active messages.
//
// One UCX context + worker per transport, driven by its own progress thread; every UCX call is
// made on that thread (API calls hand work to it through a queue). A listener on port 0 publishes
// "<host>:<port>" in the store under "ucx/addr/<rank>"; rank j dials every rank i < j. Between two
// ranks there are `lanes` endpoints (separate TCP flows). A message is cut into chunks of
// `chunkBytes`; each chunk goes on the lane with the fewest bytes in flight, provided that lane
// has room in its window (bytes in flight per lane <= windowBytesPerLane, sized from the link's
// bandwidth-delay product). Chunks land at their offset in the receiver's buffer, so arrival order
// across lanes does not matter.
//
// Every connection is authenticated before it carries data (runtime/proto/handshake.proto):
// listener challenge (nonce) -> dialer hello (version, job, rank, center, lane, codecs,
// HMAC-SHA256(secret, transcript)) -> listener welcome with its own proof, or a refusal naming
// the reason. Refusals are logged with the remote address and kept (refusals()) for diagnostics.
// Every chunk carries a header with CRC32C of its payload, checked on arrival.
//
// Faults: endpoints use UCX peer error handling (unless `peerErrorHandling` is false, see
// docs/transport.md on shared memory), and a keep-alive marks a peer lost after
// `peerTimeoutSeconds` of silence. A lost peer fails every pending operation with it (kPeerLost,
// naming rank, center and address); other peers keep working.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/store/store.h"
#include "runtime/transport/transport.h"

namespace isthmus {

// How one peer pair is driven: number of lanes and the window per lane.
struct PeerLinkParams {
  int lanes = 1;
  size_t windowBytesPerLane = 64u << 20;
  // Send chunks with UCX's eager protocol instead of rendezvous. Over TCP a rendezvous chunk
  // costs about two round trips of handshake: fine on loopback, fatal on a 40 ms link (measured
  // 0.5 of 1 Gbit/s with rendezvous vs 0.91 eager, 4 lanes). Eager costs a copy on each side.
  // ISTHMUS_UCX_PROTOCOL=eager|rndv overrides it for every peer.
  bool eager = false;
};

// Lanes and window for a link of `gbps` and `rttMs`: the window per lane is 3x the
// bandwidth-delay product split over the lanes (a rendezvous chunk holds its window for about two
// round trips plus its transfer), at least two chunks; eager protocol from 1 ms of RTT up.
//
// `lanes` <= 0 chooses the count. With congestion control bbr (rate-based): as few flows as can
// hold this pair's share of the bandwidth-delay product (the link shared by `sharers` rank pairs)
// within one socket's send buffer (3/4 of net.ipv4.tcp_wmem's maximum), at most 16: every extra
// bbr flow adds its own probing and drops at the bottleneck (docs/BENCHMARKS.md, "Congestion
// control between centers"). With a loss-based algorithm (cubic, reno, the system default):
// kLossBasedLanes, so that one loss slows only part of the traffic.
constexpr int kLossBasedLanes = 4;
PeerLinkParams linkParamsFromRate(double gbps, double rttMs, int lanes, size_t chunkBytes,
                                  const std::string& congestion = "", int sharers = 1);

// The TCP congestion control the transport will ask for on connections between centers, for
// UcxTransportOptions::tcpCongestion `requested`: ISTHMUS_TCP_CONGESTION if set, else
// `requested`, else bbr when the kernel has it; "system" = the system default (returned as
// "system"). An algorithm the kernel lacks is kInvalidArgument naming those it has.
Result<std::string> chooseTcpCongestion(const std::string& requested);

// Test hooks: deliberately wrong behaviour, for the security and integrity tests only.
struct UcxTestHooks {
  // Receiver side: flip one payload byte of the N-th data chunk received (0-based, counted over
  // all peers) after it lands and before its CRC is checked, as if the wire had corrupted it.
  // -1 = off. Also settable with ISTHMUS_TEST_FLIP_CHUNK=N.
  int64_t flipPayloadByteOfChunk = -1;
};

struct UcxTransportOptions {
  int rank = 0;
  int size = 1;
  int center = 0;                // this rank's center (goes into the handshake and messages)
  std::shared_ptr<Store> store;  // rendezvous; give each transport its own prefix store
  std::string jobId;             // must match on both sides of every connection
  // Shared secret for the HMAC proof. Empty: read ISTHMUS_JOB_SECRET, else the file named by
  // ISTHMUS_JOB_SECRET_FILE; neither set is kUnauthenticated at creation.
  std::string secret;
  std::vector<std::string> codecs;  // codec names this rank supports (sent in the handshake)

  // Address to listen on and publish. Empty: ISTHMUS_UCX_HOST, else ISTHMUS_WAN_ADDRESS (set
  // by isthmus-run --wan to the center's emulated address), else 127.0.0.1.
  std::string host;
  // UCX transports (UCX_TLS) for this context. Empty: UCX's default. UCX_TLS in the environment
  // always wins. Between emulated centers this must be "tcp" (shared memory bypasses the link).
  std::string tls = "tcp";
  // UCX peer error handling on every endpoint (fast detection of a dead peer). UCX 1.13 then never
  // uses shared memory for bulk data; set false for the CPU group inside a center to get shared
  // memory, and rely on the keep-alive alone to detect a dead peer.
  bool peerErrorHandling = true;

  // Chunk size towards peers sent eagerly (WAN links: fine-grained striping over lanes) and
  // towards peers sent by rendezvous (loopback / inside a center: fewer round trips; 4 MiB
  // measured 1.1-1.6x the bandwidth of 1 MiB for 4-64 MiB messages on loopback TCP).
  size_t chunkBytes = 1u << 20;
  size_t rndvChunkBytes = 4u << 20;
  PeerLinkParams defaultLink;                       // for peers linkFor does not cover
  std::function<PeerLinkParams(int peer)> linkFor;  // optional, per peer (e.g. from Topology)

  double keepaliveSeconds = 1.0;         // a ping to each idle peer this often
  double peerTimeoutSeconds = 10.0;      // silence after which a peer is lost
  double handshakeTimeoutSeconds = 5.0;  // a half-done handshake is refused after this

  // TCP congestion control for the connections to other centers (runtime/transport/ucx/
  // tcp_tuning.h): "" = bbr when the kernel has it, "system" = leave the system default, else a
  // name the kernel has. ISTHMUS_TCP_CONGESTION overrides it.
  std::string tcpCongestion;

  UcxTestHooks testHooks;
};

class UcxTransport : public Transport {
 public:
  // Creates the worker and listener, publishes the address, connects all lanes to all peers and
  // authenticates them, all before `deadline` (kTimeout naming the peers still missing).
  static Result<std::unique_ptr<UcxTransport>> create(UcxTransportOptions options,
                                                      Deadline deadline);
  // Inside a center: shared memory allowed (peerErrorHandling = false, tls = UCX default), one
  // lane.
  static Result<std::unique_ptr<UcxTransport>> createCpuGroup(UcxTransportOptions options,
                                                              Deadline deadline);

  // Refusals the listener logged so far ("wrong job id 'x' from 127.0.0.1:4242 ..."), oldest first.
  virtual std::vector<std::string> refusals() const = 0;
  // "host:port" this transport listens on.
  virtual std::string listenAddress() const = 0;
};

// The client half of the handshake alone, for tests and diagnostics: dials `address`, presents
// the given identity, and returns OK if the listener welcomed it (kUnauthenticated with the
// listener's reason otherwise). `misbehave` makes it send garbage ("garbage") or stop after
// connecting ("stall") instead of a hello.
struct HandshakeProbe {
  std::string address;
  std::string jobId;
  std::string secret;
  uint32_t protocolVersion = 0;  // 0 = the current version
  int rank = 0;
  int center = 0;
  int lane = 0;
  int lanes = 1;
  std::string misbehave;  // "", "garbage", "stall"
  std::string tls = "tcp";
};
Status probeHandshake(const HandshakeProbe& probe, Deadline deadline);

// The job secret from ISTHMUS_JOB_SECRET or ISTHMUS_JOB_SECRET_FILE.
Result<std::string> loadJobSecret();

}  // namespace isthmus
