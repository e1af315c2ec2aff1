// Topology built in code: uniform and uneven layouts, accessors, and validation from strings.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/topology.h"

namespace isthmus {
namespace {

using ::testing::HasSubstr;

TEST(topology_api, Uniform) {
  auto topo = Topology::uniform(2, 3);
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(topo->numCenters(), 2);
  EXPECT_EQ(topo->worldSize(), 6);
  EXPECT_EQ(topo->centerName(0), "c0");
  EXPECT_EQ(topo->centerName(1), "c1");
  for (int r = 0; r < 6; ++r) {
    EXPECT_EQ(topo->centerOf(r), r / 3);
    EXPECT_EQ(topo->localRank(r), r % 3);
    EXPECT_EQ(topo->globalRank(r / 3, r % 3), r);
  }
  EXPECT_EQ(*topo->centerIndex("c1"), 1);
  EXPECT_FALSE(topo->link(0, 1).has_value());  // nothing declared, no default
  EXPECT_EQ(topo->describe(),
            "topology: 2 centers, 6 ranks\n"
            "  center 0 \"c0\": ranks 0..2 (3)\n"
            "  center 1 \"c1\": ranks 3..5 (3)\n"
            "  link \"c0\" <-> \"c1\": not declared");
}

TEST(topology_api, FromRanksPerCenter) {
  auto topo = Topology::fromRanksPerCenter({2, 3, 1});
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(topo->worldSize(), 6);
  EXPECT_EQ(topo->centerSizes(), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(topo->centerOf(1), 0);
  EXPECT_EQ(topo->centerOf(2), 1);
  EXPECT_EQ(topo->centerOf(5), 2);
  EXPECT_EQ(topo->localRank(4), 2);
  EXPECT_EQ(topo->firstRank(2), 5);
}

TEST(topology_api, BadSizesAreRefused) {
  EXPECT_THAT(Topology::uniform(0, 2).status().message(),
              HasSubstr("number of centers must be > 0, got 0"));
  EXPECT_THAT(Topology::uniform(2, -1).status().message(),
              HasSubstr("ranks per center must be > 0, got -1"));
  EXPECT_THAT(Topology::fromRanksPerCenter({}).status().message(), HasSubstr("no centers"));
  EXPECT_THAT(Topology::fromRanksPerCenter({2, 0}).status().message(),
              HasSubstr("center 1 (c1): ranks per center must be > 0, got 0"));
  EXPECT_THAT(Topology::uniform(1 << 12, 1 << 12).status().message(),
              HasSubstr("exceed the limit of 1048576"));
}

TEST(topology_api, UnknownCenterNameListsTheKnownOnes) {
  auto topo = Topology::uniform(2, 1);
  ASSERT_TRUE(topo.ok());
  auto c = topo->centerIndex("west");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "unknown center \"west\" (centers: \"c0\", \"c1\")");
}

TEST(topology_api, TextProtoReportsEveryProblem) {
  auto topo = Topology::fromTextProto(R"pb(
    centers {
      name: "a"
      ranks { first: 0 count: 2 }
    }
    centers {
      name: "a b"
      ranks { first: 2 count: 1 }
    }
    links { a: "a" b: "zz" bandwidth_gbps: 0 rtt_ms: -1 lanes: 0 loss_percent: -3 }
  )pb");
  ASSERT_FALSE(topo.ok());
  const std::string& msg = topo.status().message();
  EXPECT_THAT(msg, HasSubstr("invalid topology: "));
  EXPECT_THAT(msg, HasSubstr("centers[1].name: \"a b\" has the character ' '"));
  EXPECT_THAT(msg, HasSubstr("links[0].b: unknown center \"zz\""));
  EXPECT_THAT(msg, HasSubstr("links[0].bandwidth_gbps: must be > 0, got 0"));
  EXPECT_THAT(msg, HasSubstr("links[0].rtt_ms: must be >= 0, got -1"));
  EXPECT_THAT(msg, HasSubstr("links[0].lanes: must be in 1..256 (the limit), got 0"));
  EXPECT_THAT(msg, HasSubstr("links[0].loss_percent: must be in [0, 100), got -3"));
}

TEST(topology_api, NonFiniteNumbersAreRefused) {
  auto topo = Topology::fromJson(R"({
    "centers": [{"name": "a", "ranks": {"count": 1}}, {"name": "b", "ranks": {"first": 1, "count": 1}}],
    "links": [{"a": "a", "b": "b", "bandwidth_gbps": "Infinity", "rtt_ms": "NaN"}]
  })");
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(), HasSubstr("links[0].bandwidth_gbps: must be > 0, got inf"));
  EXPECT_THAT(topo.status().message(), HasSubstr("links[0].rtt_ms: must be >= 0, got nan"));
}

TEST(topology_api, DefaultLinkFillsUnsetFieldsAndUndeclaredPairs) {
  auto topo = Topology::fromTextProto(R"pb(
    default_link { bandwidth_gbps: 10 rtt_ms: 50 lanes: 2 loss_percent: 0.5 }
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
    links { a: "a" b: "b" rtt_ms: 5 }
    links { a: "b" b: "c" bandwidth_gbps: 1 one_way: true }
  )pb");
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(*topo->link(0, 1), (LinkSpec{10, 5, 2, 0.5, 0}));
  EXPECT_EQ(*topo->link(1, 0), (LinkSpec{10, 5, 2, 0.5, 0}));
  EXPECT_EQ(*topo->link(1, 2), (LinkSpec{1, 50, 2, 0.5, 0}));
  EXPECT_EQ(*topo->link(2, 1), (LinkSpec{10, 50, 2, 0.5, 0}));  // undeclared direction
  EXPECT_EQ(*topo->link(0, 2), (LinkSpec{10, 50, 2, 0.5, 0}));  // undeclared pair
}

TEST(topology_api, OneWayLinksMayNotRepeatADirection) {
  auto topo = Topology::fromTextProto(R"pb(
    centers {
      name: "a"
      ranks { first: 0 count: 1 }
    }
    centers {
      name: "b"
      ranks { first: 1 count: 1 }
    }
    links { a: "a" b: "b" bandwidth_gbps: 1 rtt_ms: 1 one_way: true }
    links { a: "b" b: "a" bandwidth_gbps: 1 rtt_ms: 1 one_way: true }
    links { a: "a" b: "b" bandwidth_gbps: 2 rtt_ms: 1 one_way: true }
  )pb");
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(),
              HasSubstr("links[2]: duplicate link \"a\" -> \"b\": links[0] already declares"));
}

TEST(topology_api, RanksPerHostMustMatchCount) {
  auto topo = Topology::fromTextProto(R"pb(
    centers {
      name: "a"
      hosts: "h1"
      hosts: "h2"
      ranks_per_host: 4
      ranks { first: 0 count: 6 }
    }
  )pb");
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(),
              HasSubstr("centers[0].ranks_per_host: 2 hosts x 4 ranks per host = 8 ranks, but "
                        "ranks.count is 6"));
}

TEST(topology_api, ParseErrorsCarryLineAndColumn) {
  auto topo = Topology::fromTextProto("centers {\n  name: \"a\"\n  ranks { first: x }\n}\n");
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(), HasSubstr("text format parse error at line 3, column 18"));
}

TEST(topology_api, CopiesAreIndependentAndEqual) {
  auto topo = Topology::fromRanksPerCenter({1, 2});
  ASSERT_TRUE(topo.ok());
  Topology copy = *topo;
  EXPECT_EQ(copy.describe(), topo->describe());
  EXPECT_EQ(copy.centerOf(2), 1);
}

TEST(topology_api, OutOfRangeAccessIsABug) {
  auto topo = Topology::uniform(1, 2);
  ASSERT_TRUE(topo.ok());
  EXPECT_DEATH((void)topo->centerOf(2), "rank 2 out of 0..1");
  EXPECT_DEATH((void)topo->globalRank(0, 5), "local rank 5 out of range");
}

}  // namespace
}  // namespace isthmus
