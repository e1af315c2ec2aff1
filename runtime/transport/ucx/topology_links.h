// From the topology to UcxTransport options: lanes and windows per peer from the declared links.
//
// `groupRanks[i]` is the global rank of group member i (e.g. local rank l of every center for
// the inter-center exchange). A peer in another center gets the lanes of Topology::link(myCenter,
// peerCenter) (at least 1) and a window from its bandwidth-delay product; a peer in the same
// center, or a pair with no declared link, gets `fallback`. Pure function, thread-safe.
#pragma once

#include <functional>
#include <vector>

#include "runtime/topology.h"
#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus {

std::function<PeerLinkParams(int peer)> linkParamsFromTopology(const Topology& topology,
                                                               const std::vector<int>& groupRanks,
                                                               int myGroupRank, size_t chunkBytes,
                                                               PeerLinkParams fallback = {});

}  // namespace isthmus
