// isthmus-run's argument parsing: what is accepted and the errors for what is not.
#include "tools/launcher/launcher_options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace isthmus::launcher {
namespace {

Result<LauncherOptions> parse(std::vector<std::string> args) { return parseLauncherArgs(args); }

TEST(LauncherOptions, UniformCenters) {
  auto o = parse({"--centers", "3", "--ranks-per-center", "2", "--", "prog", "--flag", "x"});
  ASSERT_TRUE(o.ok()) << o.status().toString();
  EXPECT_EQ(o->ranksPerCenter, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(o->worldSize(), 6);
  EXPECT_EQ(o->program, (std::vector<std::string>{"prog", "--flag", "x"}));
  EXPECT_FALSE(o->wan);
  EXPECT_EQ(o->timeoutSeconds, 0);
}

TEST(LauncherOptions, UnevenListAndEqualsSyntax) {
  auto o = parse({"--ranks-per-center=2,3,1", "--job-id=j1", "--store-port", "0", "--timeout=2.5",
                  "--wan", "rate=1gbit", "--", "prog"});
  ASSERT_TRUE(o.ok()) << o.status().toString();
  EXPECT_EQ(o->ranksPerCenter, (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(o->numCenters(), 3);
  EXPECT_EQ(o->jobId, "j1");
  EXPECT_DOUBLE_EQ(o->timeoutSeconds, 2.5);
  EXPECT_TRUE(o->wan);
  EXPECT_EQ(o->wanSpec, "rate=1gbit");
  auto same = parse({"--centers", "3", "--ranks-per-center", "2,3,1", "--", "prog"});
  EXPECT_TRUE(same.ok());
}

TEST(LauncherOptions, Help) {
  auto o = parse({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
  EXPECT_NE(launcherUsage().find("--ranks-per-center"), std::string::npos);
}

TEST(LauncherOptions, Errors) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"--centers", "2", "--ranks-per-center", "1"}, "no program given"},
      {{"--centers", "2", "--ranks-per-center", "1", "--"}, "no program given"},
      {{"--centers", "0", "--ranks-per-center", "1", "--", "p"}, "--centers '0'"},
      {{"--centers", "2", "--", "p"}, "--ranks-per-center is required"},
      {{"--ranks-per-center", "2", "--", "p"}, "--centers is required"},
      {{"--ranks-per-center", "2,0", "--", "p"}, "element 1 ('0')"},
      {{"--ranks-per-center", "2,", "--", "p"}, "element 1 ('')"},
      {{"--centers", "2", "--ranks-per-center", "1,1,1", "--", "p"},
       "lists 3 centers but --centers is 2"},
      {{"--centers", "2", "--ranks-per-center", "1", "--store-port", "70000", "--", "p"},
       "--store-port '70000'"},
      {{"--centers", "2", "--ranks-per-center", "1", "--timeout", "abc", "--", "p"},
       "--timeout 'abc'"},
      {{"--centers", "2", "--ranks-per-center", "1", "--job-id", "", "--", "p"},
       "--job-id must not be empty"},
      {{"--centers", "2", "--ranks-per-center"}, "--ranks-per-center needs a value"},
      {{"--centers", "2", "--ranks-per-center", "--", "p"}, "--ranks-per-center needs a value"},
      {{"--bogus", "--", "p"}, "unknown option '--bogus'"},
      {{"prog"}, "put the program after '--'"},
      {{"--centers", "64", "--ranks-per-center", "100", "--", "p"}, "at most 4096"},
      {{"--topology", "/nonexistent/topo.textproto", "--", "p"}, "--topology"},
  };
  for (const auto& c : cases) {
    auto o = parse(c.args);
    ASSERT_FALSE(o.ok()) << c.message;
    EXPECT_EQ(o.status().code(), StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(o.status().message().find(c.message), std::string::npos)
        << "expected '" << c.message << "' in: " << o.status().message();
  }
}

TEST(LauncherOptions, TopologyGivesTheCenterSizes) {
  const std::string path = ::testing::TempDir() + "/launcher_topo.textproto";
  {
    std::ofstream f(path);
    f << "centers { name: \"a\" ranks { first: 0 count: 2 } }\n"
         "centers { name: \"b\" ranks { first: 2 count: 1 } }\n";
  }
  auto o = parse({"--topology", path, "--", "p"});
  ASSERT_TRUE(o.ok()) << o.status().toString();
  EXPECT_EQ(o->ranksPerCenter, (std::vector<int>{2, 1}));
  auto agree =
      parse({"--topology", path, "--centers", "2", "--ranks-per-center", "2,1", "--", "p"});
  EXPECT_TRUE(agree.ok()) << agree.status().toString();
  auto disagree = parse({"--topology", path, "--centers", "3", "--", "p"});
  ASSERT_FALSE(disagree.ok());
  EXPECT_NE(disagree.status().message().find("--centers 3 disagrees"), std::string::npos);
  auto sizes = parse({"--topology", path, "--ranks-per-center", "2", "--", "p"});
  ASSERT_FALSE(sizes.ok());
  EXPECT_NE(sizes.status().message().find("disagrees"), std::string::npos);
  std::remove(path.c_str());
}

TEST(LauncherOptions, TopologyWithCentersOutOfRankOrderIsRefused) {
  const std::string path = ::testing::TempDir() + "/launcher_topo_unordered.textproto";
  {
    std::ofstream f(path);
    f << "centers { name: \"late\" ranks { first: 2 count: 1 } }\n"
         "centers { name: \"early\" ranks { first: 0 count: 2 } }\n";
  }
  auto o = parse({"--topology", path, "--", "p"});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.status().message().find("center \"late\" starts at rank 2"), std::string::npos)
      << o.status().toString();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace isthmus::launcher
