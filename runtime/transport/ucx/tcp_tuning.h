// TCP congestion control for the connections between centers (and, in tcp_tuning.cc, the lane
// count and windows from a link: ucx_transport.h, linkParamsFromRate).
//
// Over a long link shared in both directions, loss-based congestion control (cubic, the Linux
// default) leaves much of the link idle: a tail-drop loss halves a flow's window, and at 40 ms a
// window of hundreds of packets takes seconds to grow back. Measured on the emulated 1 Gbit/s,
// 40 ms link (docs/BENCHMARKS.md, "Congestion control between centers"): iperf3 with 4 streams
// per rank, both directions at once, carries 0.73 of the link per direction with cubic and 0.92
// with bbr. UCX has no setting for it, so the transport sets TCP_CONGESTION on its own sockets
// once they are connected: the sockets this process opened while the transport connected whose
// peer is an address of another center.
#pragma once

#include <set>
#include <string>

#include "runtime/core/status.h"

namespace isthmus::ucximpl {

// Inodes of this process's sockets (from /proc/self/fd), to tell the transport's own sockets
// from those other code in the process opened before it.
std::set<unsigned long> socketInodes();

struct CongestionResult {
  std::string algorithm;  // what was asked for
  int sockets = 0;        // sockets that now use it
  std::string error;      // why some could not be set (empty when all were)
};

// Sets `algorithm` on every TCP socket of this process that is not in `before` and whose peer
// IPv4 address is in `remoteHosts`.
CongestionResult setCongestionControl(const std::string& algorithm,
                                      const std::set<unsigned long>& before,
                                      const std::set<std::string>& remoteHosts);

// Which algorithm to ask for: chooseTcpCongestion in ucx_transport.h.

}  // namespace isthmus::ucximpl
