// wanSpecFromTopology: a topology file's links become per-pair emulated links.
#include <gtest/gtest.h>

#include "tools/wanem/wan_topology.h"

namespace isthmus::wanem {
namespace {

TEST(WanTopologyTest, LinksBecomePerPairSettings) {
  auto topo = Topology::fromTextProto(R"pb(
    default_link { bandwidth_gbps: 10 rtt_ms: 50 lanes: 2 }
    centers {
      name: "a"
      ranks { first: 0 count: 1 }
    }
    centers {
      name: "b"
      ranks { first: 1 count: 1 }
    }
    centers {
      name: "c"
      ranks { first: 2 count: 1 }
    }
    links { a: "a" b: "c" bandwidth_gbps: 2 rtt_ms: 80 loss_percent: 1 jitter_ms: 3 }
  )pb");
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  WanSpec base;
  WanSpec spec = wanSpecFromTopology(base, *topo);
  EXPECT_DOUBLE_EQ(spec.link(0, 2).rateBitsPerSec, 2e9);
  EXPECT_DOUBLE_EQ(spec.link(2, 0).rttMs, 80);
  EXPECT_DOUBLE_EQ(spec.link(0, 2).lossRate, 0.01);
  EXPECT_DOUBLE_EQ(spec.link(0, 2).jitterMs, 3);
  EXPECT_DOUBLE_EQ(spec.link(0, 1).rateBitsPerSec, 10e9);  // default_link
  EXPECT_DOUBLE_EQ(spec.link(1, 2).rttMs, 50);
  EXPECT_TRUE(validateWanSpec(spec, 3).ok());
}

}  // namespace
}  // namespace isthmus::wanem
