#include "runtime/transport/ucx/topology_links.h"

#include <algorithm>

namespace isthmus {

std::function<PeerLinkParams(int peer)> linkParamsFromTopology(const Topology& topology,
                                                               const std::vector<int>& groupRanks,
                                                               int myGroupRank, size_t chunkBytes,
                                                               PeerLinkParams fallback) {
  std::vector<PeerLinkParams> params(groupRanks.size(), fallback);
  const int myCenter = topology.centerOf(groupRanks[myGroupRank]);
  for (size_t i = 0; i < groupRanks.size(); ++i) {
    int center = topology.centerOf(groupRanks[i]);
    if (center == myCenter) continue;
    // Both ends must agree on the lane count: take the link in the dialer->listener direction
    // canonicalised by center index, so one-way declarations give the same answer on both sides.
    auto link = topology.link(std::min(myCenter, center), std::max(myCenter, center));
    if (!link) continue;
    // The transport drives at most 64 lanes per pair (the topology allows up to 256).
    int lanes = std::min(64, std::max(1, link->lanes));
    params[i] = linkParamsFromRate(link->bandwidthGbps, link->rttMs, lanes, chunkBytes);
  }
  return [params](int peer) { return params.at(static_cast<size_t>(peer)); };
}

}  // namespace isthmus
