#include "runtime/transport/ucx/topology_links.h"

#include <gtest/gtest.h>

#include <vector>

namespace isthmus {
namespace {

TEST(TopologyLinks, LanesAndWindowsFromTheDeclaredLink) {
  auto topo = Topology::fromTextProto(R"(
    centers { name: "east" ranks { first: 0 count: 2 } }
    centers { name: "west" ranks { first: 2 count: 2 } }
    links { a: "east" b: "west" bandwidth_gbps: 2 rtt_ms: 80 lanes: 8 }
  )");
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  TopologyLinkOptions o;
  o.sameCenter.lanes = 3;
  // Group of local rank 0 of each center: global ranks 0 and 2.
  auto f = linkParamsFromTopology(*topo, {0, 2}, 0, o);
  EXPECT_EQ(f(1).lanes, 8);
  EXPECT_TRUE(f(1).eager);
  EXPECT_EQ(f(1).windowBytesPerLane, 7500000u);  // 3 x 20 MB / 8
  auto back = linkParamsFromTopology(*topo, {0, 2}, 1, o);
  EXPECT_EQ(back(0).lanes, 8);  // both ends agree
  auto same = linkParamsFromTopology(*topo, {0, 1}, 0, o);
  EXPECT_EQ(same(1).lanes, 3);  // same center: sameCenter
}

TEST(TopologyLinks, UndeclaredLanesNoLinkAndOverride) {
  auto topo = Topology::fromTextProto(R"(
    centers { name: "east" ranks { first: 0 count: 2 } }
    centers { name: "west" ranks { first: 2 count: 2 } }
    centers { name: "north" ranks { first: 4 count: 1 } }
    links { a: "east" b: "west" bandwidth_gbps: 1 rtt_ms: 40 }
  )");
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  TopologyLinkOptions o;
  o.congestion = "bbr";
  o.sharers = 2;
  o.noLink.lanes = kLossBasedLanes;
  o.noLink.eager = true;
  const std::vector<int> all = {0, 1, 2, 3, 4};
  auto f = linkParamsFromTopology(*topo, all, 0, o);
  // Undeclared lanes: what linkParamsFromRate chooses for bbr and two senders per center.
  EXPECT_EQ(f(2).lanes, linkParamsFromRate(1, 40, 0, 1u << 20, "bbr", 2).lanes);
  EXPECT_EQ(f(4).lanes, kLossBasedLanes);  // no link to north
  EXPECT_TRUE(f(4).eager);
  EXPECT_EQ(f(1).lanes, 1);  // same center
  o.lanes = 5;
  auto g = linkParamsFromTopology(*topo, all, 0, o);
  EXPECT_EQ(g(2).lanes, 5);
  EXPECT_EQ(g(4).lanes, 5);
  EXPECT_EQ(g(1).lanes, 1);  // the override is for peers in other centers only
}

TEST(TopologyLinks, RateToWindow) {
  auto p = linkParamsFromRate(1.0, 40.0, 4, 1u << 20);
  EXPECT_EQ(p.lanes, 4);
  EXPECT_TRUE(p.eager);
  EXPECT_EQ(p.windowBytesPerLane, 3750000u);  // 3 x 5 MB / 4
  auto q = linkParamsFromRate(100.0, 0.05, 1, 1u << 20);
  EXPECT_FALSE(q.eager);
  EXPECT_EQ(q.windowBytesPerLane, 2u << 20);  // at least two chunks
}

}  // namespace
}  // namespace isthmus
