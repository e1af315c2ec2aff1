// From the topology to UcxTransport options: lanes and windows per peer from the declared links.
//
// `groupRanks[i]` is the global rank of group member i (e.g. local rank l of every center for
// the inter-center exchange). A peer in another center gets linkParamsFromRate of
// Topology::link(myCenter, peerCenter): the lanes the topology declares, else those
// linkParamsFromRate chooses for `congestion` and `sharers`, and a window from the link's
// bandwidth-delay product. Only the dialer's count matters: the listener takes it from the hello.
// A peer in the same center gets `sameCenter`; a peer in a center with no declared link gets
// `noLink`. `lanes` > 0 replaces the count for every peer in another center. Pure function,
// thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "runtime/topology.h"
#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus {

struct TopologyLinkOptions {
  size_t chunkBytes = 1u << 20;
  int lanes = 0;              // > 0: this many for every peer in another center
  std::string congestion;     // chooseTcpCongestion's answer (picks undeclared lane counts)
  int sharers = 1;            // ranks of this center that send over a link at once
  PeerLinkParams sameCenter;  // a peer in this rank's center
  PeerLinkParams noLink;      // a peer in a center with no declared link
};

std::function<PeerLinkParams(int peer)> linkParamsFromTopology(const Topology& topology,
                                                               const std::vector<int>& groupRanks,
                                                               int myGroupRank,
                                                               const TopologyLinkOptions& options);

}  // namespace isthmus
