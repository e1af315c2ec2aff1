#include "runtime/transport/ucx/topology_links.h"

namespace isthmus {

std::function<PeerLinkParams(int peer)> linkParamsFromTopology(const Topology& topology,
                                                               const std::vector<int>& groupRanks,
                                                               int myGroupRank,
                                                               const TopologyLinkOptions& o) {
  std::vector<PeerLinkParams> params(groupRanks.size());
  const int myCenter = topology.centerOf(groupRanks[myGroupRank]);
  for (size_t i = 0; i < groupRanks.size(); ++i) {
    const int center = topology.centerOf(groupRanks[i]);
    PeerLinkParams& p = params[i];
    if (center == myCenter) {
      p = o.sameCenter;
      continue;
    }
    auto link = topology.link(myCenter, center);
    if (!link) {
      p = o.noLink;
      if (o.lanes > 0) p.lanes = o.lanes;
      continue;
    }
    // More than the transport drives (64; the topology allows 256) fails its creation, naming it.
    const int lanes = o.lanes > 0 ? o.lanes : link->lanesDeclared ? link->lanes : 0;
    p = linkParamsFromRate(link->bandwidthGbps, link->rttMs, lanes, o.chunkBytes, o.congestion,
                           o.sharers);
  }
  return [params](int peer) { return params.at(static_cast<size_t>(peer)); };
}

}  // namespace isthmus
