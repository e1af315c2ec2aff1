// wanSpecFromTopology: per-pair WAN emulation settings from a topology file's links.
//
// Header-only so that isthmus_wanem does not depend on isthmus_runtime; a user of this header
// (the launcher) links both. The emulator's links are symmetric: for each pair a < b the a->b
// link (runtime/topology.h: declared, or default_link) is used in both directions. Pairs with
// no link keep base.defaults. Lanes do not matter to the emulator (they are flows on the link).
#pragma once

#include <vector>

#include "runtime/topology.h"
#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {

inline WanSpec wanSpecFromTopology(const WanSpec& base, const Topology& topology) {
  std::vector<PairLink> links;
  for (int a = 0; a < topology.numCenters(); ++a) {
    for (int b = a + 1; b < topology.numCenters(); ++b) {
      std::optional<LinkSpec> l = topology.link(a, b);
      if (!l) continue;
      links.push_back(PairLink{a, b, l->bandwidthGbps, l->rttMs, l->lossPercent, l->jitterMs});
    }
  }
  return wanSpecFromLinks(base, links);
}

}  // namespace isthmus::wanem
