// Topology files: every malformed file in tests/data/topology fails with an error naming the
// field and the problem; the good files and the examples load to what they say.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "runtime/topology.h"
#include "tests/unit/runtime/test_paths.h"

namespace isthmus {
namespace {

using ::isthmus::testing::exampleTopology;
using ::isthmus::testing::topologyData;
using ::testing::HasSubstr;

struct Malformed {
  std::string file;
  std::vector<std::string> expected;  // substrings of the error message
};

std::ostream& operator<<(std::ostream& os, const Malformed& m) { return os << m.file; }

const std::vector<Malformed>& malformedFiles() {
  static const std::vector<Malformed> cases = {
      {"bad_no_centers.textproto", {"centers: no centers; a topology needs at least one"}},
      {"bad_empty_name.textproto", {"centers[1].name: is empty"}},
      {"bad_duplicate_name.json", {"centers[1].name: duplicate name \"a\" (also centers[0])"}},
      {"bad_name_digits.textproto", {"centers[0].name: \"1\" is all digits"}},
      {"bad_unknown_center.textproto",
       {"links[0].b: unknown center \"x\" (centers: \"a\", \"b\")"}},
      {"bad_self_link.json", {"links[0]: a and b are both \"a\""}},
      {"bad_duplicate_link.textproto",
       {"links[1]: duplicate link \"b\" <-> \"a\": links[0] already declares \"b\" -> \"a\""}},
      {"bad_duplicate_rank.textproto",
       {"centers[1].ranks: rank 3 is already in center \"a\" (centers[0])"}},
      {"bad_rank_gap.json",
       {"centers: rank 2 is in no center; the ranks must cover 0..3 (the counts sum to 4)"}},
      {"bad_empty_center.textproto",
       {"centers[1].ranks.count: must be > 0, got 0: center \"b\" would be empty"}},
      {"bad_no_ranks_no_hosts.textproto", {"centers[1]: center \"b\" has neither ranks nor hosts"}},
      {"bad_duplicate_host.textproto",
       {"centers[1].hosts[0]: host \"n2\" is already in center \"a\" (centers[0])"}},
      {"bad_bandwidth.textproto", {"links[2].bandwidth_gbps: must be > 0, got -1"}},
      {"bad_zero_bandwidth.json", {"links[0].bandwidth_gbps: must be > 0, got 0"}},
      {"bad_missing_bandwidth.textproto",
       {"links[0].bandwidth_gbps: missing, and default_link sets none"}},
      {"bad_negative_rtt.json", {"links[0].rtt_ms: must be >= 0, got -5"}},
      {"bad_loss.textproto", {"links[0].loss_percent: must be in [0, 100), got 100"}},
      {"bad_lanes_zero.json", {"links[0].lanes: must be in 1..256 (the limit), got 0"}},
      {"bad_lanes_too_many.textproto", {"links[0].lanes: must be in 1..256 (the limit), got 300"}},
      {"bad_default_link.textproto", {"default_link.jitter_ms: must be >= 0, got -1"}},
      {"bad_syntax.textproto",
       {"text format parse error at line 4, column 1: Expected identifier, got: end of file"}},
      {"bad_syntax.json", {"JSON parse error"}},
      {"bad_unknown_field.textproto",
       {"line 4, column 36", "has no field named \"bandwith_gbps\""}},
      {"bad_unknown_field.json", {"JSON parse error", "bandwith_gbps", "Cannot find field"}},
      {"bad_wrong_type.json", {"JSON parse error", "count"}},
  };
  return cases;
}

class MalformedTopologyFile : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTopologyFile, FailsNamingFieldAndProblem) {
  const Malformed& m = GetParam();
  const std::string path = topologyData(m.file);
  auto topo = Topology::fromFile(path);
  ASSERT_FALSE(topo.ok()) << path << " loaded:\n" << topo->describe();
  EXPECT_EQ(topo.status().code(), StatusCode::kInvalidArgument);
  const std::string& msg = topo.status().message();
  EXPECT_THAT(msg, HasSubstr("topology file \"" + path + "\": "));
  for (const auto& e : m.expected) EXPECT_THAT(msg, HasSubstr(e));
  std::cout << "  " << m.file << " -> " << msg.substr(msg.find("\": ") + 3) << "\n";
}

INSTANTIATE_TEST_SUITE_P(topology, MalformedTopologyFile, ::testing::ValuesIn(malformedFiles()),
                         [](const ::testing::TestParamInfo<Malformed>& info) {
                           std::string name = info.param.file;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// A bad_* file added without an expectation would go untested: refuse it.
TEST(topology_files, EveryMalformedFileHasAnExpectation) {
  std::set<std::string> covered;
  for (const auto& m : malformedFiles()) covered.insert(m.file);
  int bad = 0;
  for (const auto& entry : std::filesystem::directory_iterator(topologyData(""))) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("bad_", 0) != 0) continue;
    ++bad;
    EXPECT_TRUE(covered.count(name)) << name << " has no case in malformedFiles()";
  }
  EXPECT_EQ(bad, static_cast<int>(malformedFiles().size()));
  EXPECT_GE(bad, 10);
}

TEST(topology_files, MissingFileNamesThePath) {
  const std::string path = topologyData("does_not_exist.textproto");
  auto topo = Topology::fromFile(path);
  ASSERT_FALSE(topo.ok());
  EXPECT_EQ(topo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(topo.status().message(),
              HasSubstr("topology file \"" + path + "\": cannot open: No such file or directory"));
}

TEST(topology_files, DirectoryOrEmptyFileIsNamed) {
  const std::string dir = topologyData("");
  auto topo = Topology::fromFile(dir);
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(),
              HasSubstr("topology file \"" + dir + "\": is a directory, not a topology file"));
  const std::string empty = ::testing::TempDir() + "/empty.textproto";
  std::ofstream(empty).close();
  topo = Topology::fromFile(empty);
  ASSERT_FALSE(topo.ok());
  EXPECT_THAT(topo.status().message(),
              HasSubstr("topology file \"" + empty + "\": centers: no centers"));
}

TEST(topology_files, GoodFilesLoad) {
  for (const char* name : {"good_minimal.textproto", "good_unordered.json", "good_no_extension"}) {
    auto topo = Topology::fromFile(topologyData(name));
    EXPECT_TRUE(topo.ok()) << name << ": " << topo.status().toString();
  }
  auto minimal = Topology::fromFile(topologyData("good_minimal.textproto"));
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->worldSize(), 1);
  EXPECT_EQ(minimal->centerName(0), "solo");

  // Centers need not be listed in rank order; camelCase JSON names work too.
  auto unordered = Topology::fromFile(topologyData("good_unordered.json"));
  ASSERT_TRUE(unordered.ok());
  EXPECT_EQ(unordered->worldSize(), 5);
  EXPECT_EQ(unordered->centerOf(0), 1);
  EXPECT_EQ(unordered->centerOf(3), 0);
  EXPECT_EQ(unordered->localRank(4), 1);
  EXPECT_EQ(unordered->globalRank(0, 0), 3);
  auto link = unordered->link(0, 1);
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->bandwidthGbps, 5);
  EXPECT_EQ(link->rttMs, 30);
  EXPECT_EQ(link->lanes, Topology::kDefaultLanes);

  // No known extension: sniffed as JSON by its '{'.
  auto sniffed = Topology::fromFile(topologyData("good_no_extension"));
  ASSERT_TRUE(sniffed.ok());
  EXPECT_EQ(sniffed->centerSize(0), 2);
}

TEST(topology_examples, TwoCentersTextAndJsonAgree) {
  auto text = Topology::fromFile(exampleTopology("two_centers.textproto"));
  ASSERT_TRUE(text.ok()) << text.status().toString();
  auto json = Topology::fromFile(exampleTopology("two_centers.json"));
  ASSERT_TRUE(json.ok()) << json.status().toString();
  EXPECT_EQ(text->numCenters(), 2);
  EXPECT_EQ(text->worldSize(), 4);
  EXPECT_EQ(text->centerSizes(), (std::vector<int>{2, 2}));
  EXPECT_EQ(text->jobId(), "two-centers");
  auto link = text->link(0, 1);
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(*link, (LinkSpec{1.0, 40.0, 4, 0.0, 0.0}));
  EXPECT_EQ(text->link(1, 0), link);
  EXPECT_DOUBLE_EQ(link->bdpBytes(), 5e6);  // 1 Gbit/s x 40 ms = 5 MB in flight
  // Same content in both syntaxes, description aside.
  proto::Topology a = text->proto();
  proto::Topology b = json->proto();
  a.clear_description();
  b.clear_description();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b))
      << a.DebugString() << "\nvs\n"
      << b.DebugString();
}

TEST(topology_examples, UnevenWithPerPairLinks) {
  auto topo = Topology::fromFile(exampleTopology("uneven.textproto"));
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(topo->centerSizes(), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(topo->centerOf(4), 1);
  EXPECT_EQ(topo->localRank(4), 2);
  EXPECT_EQ(topo->centerOf(5), 2);
  EXPECT_EQ(topo->globalRank(1, 0), 2);
  ASSERT_TRUE(topo->centerIndex("gamma").ok());
  EXPECT_EQ(*topo->centerIndex("gamma"), 2);
  EXPECT_EQ(*topo->link(0, 1), (LinkSpec{10, 20, 4, 0, 0}));
  EXPECT_EQ(*topo->link(1, 0), (LinkSpec{10, 20, 4, 0, 0}));
  EXPECT_EQ(*topo->link(0, 2), (LinkSpec{1, 80, 8, 0, 0}));
  EXPECT_EQ(*topo->link(1, 2), (LinkSpec{2, 60, 4, 0, 0}));
  EXPECT_EQ(*topo->link(2, 1), (LinkSpec{0.5, 60, 4, 0, 2}));
  EXPECT_FALSE(topo->link(1, 1).has_value());
  const std::string d = topo->describe();
  EXPECT_THAT(d, HasSubstr("topology of job \"uneven\": 3 centers, 6 ranks"));
  EXPECT_THAT(d, HasSubstr("center 1 \"beta\": ranks 2..4 (3)"));
  EXPECT_THAT(d, HasSubstr("link \"alpha\" <-> \"beta\": 10 Gbit/s, rtt 20 ms, 4 lanes"));
  EXPECT_THAT(d, HasSubstr("link \"gamma\" -> \"beta\": 0.5 Gbit/s, rtt 60 ms, 4 lanes, loss 0%, "
                           "jitter 2 ms"));
}

TEST(topology_examples, CentersFromHosts) {
  auto topo = Topology::fromFile(exampleTopology("hosts.textproto"));
  ASSERT_TRUE(topo.ok()) << topo.status().toString();
  EXPECT_EQ(topo->centerSizes(), (std::vector<int>{16, 8}));
  EXPECT_EQ(topo->firstRank(1), 16);
  EXPECT_EQ(topo->centerOfHost("a-node02.site-a.example.org"), 0);
  EXPECT_EQ(topo->centerOfHost("b-gpu1"), 1);  // short name of a listed host
  EXPECT_EQ(topo->centerOfHost("b-gpu1.elsewhere.org"), std::nullopt);
  EXPECT_EQ(topo->centerOfHost("unknown"), std::nullopt);
  EXPECT_EQ(*topo->link(0, 1), (LinkSpec{100, 12, 16, 0, 0}));
  // proto() carries the derived ranges, and reloads to the same topology.
  EXPECT_EQ(topo->proto().centers(1).ranks().first(), 16u);
  auto again = Topology::fromProto(topo->proto());
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(again->centerSizes(), topo->centerSizes());
  EXPECT_THAT(topo->describe(), HasSubstr("link \"site-a\" <-> \"site-b\": 100 Gbit/s, rtt 12 ms, "
                                          "16 lanes, loss 0%, jitter 0 ms (default)"));
}

}  // namespace
}  // namespace isthmus
