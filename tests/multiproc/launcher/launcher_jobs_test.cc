// isthmus-run end to end with hello_centers: identities, prefixes, failure, uneven centers.
#include <gtest/gtest.h>

#include "runtime/core/status.h"
#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

using testing::buildPath;
using testing::countLines;
using testing::runUnderLauncher;

std::string hello() { return buildPath("examples/hello_centers"); }

TEST(LauncherJobs, TwoCentersOfTwoPrintFourPrefixedIdentities) {
  auto r = runUnderLauncher({"--centers", "2", "--ranks-per-center", "2"}, {hello()}, 30);
  ASSERT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
  const char* expected[] = {
      "[c0 r0] hello from rank 0/4, center 0/2 'c0', local rank 0/2",
      "[c0 r1] hello from rank 1/4, center 0/2 'c0', local rank 1/2",
      "[c1 r2] hello from rank 2/4, center 1/2 'c1', local rank 0/2",
      "[c1 r3] hello from rank 3/4, center 1/2 'c1', local rank 1/2",
  };
  for (const char* line : expected)
    EXPECT_EQ(countLines(r.output, line), 1) << line << "\n" << r.output;
  EXPECT_EQ(countLines(r.output, "hello from rank"), 4) << r.output;
  EXPECT_EQ(countLines(r.output, "[c0 r0] hello_centers: all 4 ranks agree"), 1) << r.output;
}

TEST(LauncherJobs, FailingRankStopsTheJobAndIsNamed) {
  // The other ranks block waiting for rank 3's value: only the launcher's teardown ends them.
  auto r = runUnderLauncher({"--centers", "2", "--ranks-per-center", "2"},
                            {hello(), "--fail-rank", "3", "--exit-code", "3"}, 30);
  EXPECT_FALSE(r.timedOut) << r.output;
  EXPECT_EQ(r.exitCode, 3) << r.describe() << "\n" << r.output;
  EXPECT_LT(r.seconds, 5.0) << r.output;
  EXPECT_EQ(countLines(r.output,
                       "isthmus-run: job failed: rank 3 (center 1, local rank 1) "
                       "exited with status 3"),
            1)
      << r.output;
  EXPECT_EQ(countLines(r.output, "all 4 ranks agree"), 0) << r.output;
}

TEST(LauncherJobs, RankKilledBySignalIsNamedWithTheSignal) {
  auto r = runUnderLauncher(
      {"--centers", "1", "--ranks-per-center", "2"},
      {"/bin/sh", "-c", "if [ \"$RANK\" = 1 ]; then kill -9 $$; fi; sleep 20"}, 30);
  EXPECT_EQ(r.exitCode, 128 + 9) << r.describe() << "\n" << r.output;
  EXPECT_EQ(
      countLines(r.output, "rank 1 (center 0, local rank 1) was killed by signal 9 (SIGKILL)"), 2)
      << r.output;
  EXPECT_LT(r.seconds, 10.0) << r.output;
}

TEST(LauncherJobs, UnevenCenters) {
  auto r = runUnderLauncher({"--ranks-per-center", "2,3,1"}, {hello()}, 30);
  ASSERT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
  EXPECT_EQ(countLines(r.output, "hello from rank"), 6) << r.output;
  EXPECT_EQ(countLines(r.output, "[c1 r4] hello from rank 4/6, center 1/3 'c1', local rank 2/3"), 1)
      << r.output;
  EXPECT_EQ(countLines(r.output, "[c2 r5] hello from rank 5/6, center 2/3 'c2', local rank 0/1"), 1)
      << r.output;
  EXPECT_EQ(countLines(r.output, "all 6 ranks agree"), 1) << r.output;
}

TEST(LauncherJobs, EnvironmentFollowsTheTorchrunConvention) {
  auto r = runUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "1", "--job-id", "job42"},
      {"/bin/sh", "-c",
       "echo \"env RANK=$RANK WORLD_SIZE=$WORLD_SIZE LOCAL_RANK=$LOCAL_RANK "
       "LOCAL_WORLD_SIZE=$LOCAL_WORLD_SIZE CENTER=$ISTHMUS_CENTER NUM=$ISTHMUS_NUM_CENTERS "
       "RPC=$ISTHMUS_RANKS_PER_CENTER JOB=$ISTHMUS_JOB_ID ADDR=$MASTER_ADDR\""},
      30, {"RANK=99", "ISTHMUS_CENTER=7"});  // stale values the launcher must replace
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(countLines(r.output,
                       "[c1 r1] env RANK=1 WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 "
                       "CENTER=1 NUM=2 RPC=1,1 JOB=job42 ADDR=127.0.0.1"),
            1)
      << r.output;
}

TEST(LauncherJobs, StderrAndPartialLastLinesArePrefixed) {
  auto r = runUnderLauncher({"--centers", "1", "--ranks-per-center", "1"},
                            {"/bin/sh", "-c", "echo to-stderr >&2; printf 'a\\nno newline'"}, 30);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(countLines(r.output, "[c0 r0] to-stderr"), 1) << r.output;
  EXPECT_EQ(countLines(r.output, "[c0 r0] a"), 1) << r.output;
  EXPECT_EQ(countLines(r.output, "[c0 r0] no newline"), 1) << r.output;
}

TEST(LauncherJobs, UsageErrorsAreClear) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  };
  const Case cases[] = {
      {{"--centers", "2", "--ranks-per-center", "2"}, "no program given"},
      {{"--centers", "3", "--ranks-per-center", "2,3", "--", "true"},
       "--ranks-per-center lists 2 centers but --centers is 3"},
      {{"--ranks-per-center", "2", "--", "true"}, "--centers is required"},
      {{"--centers", "2", "--ranks-per-center", "2,x", "--", "true"}, "element 1 ('x')"},
      {{"--centers", "2", "--ranks-per-center", "1", "--frobnicate", "--", "true"},
       "unknown option '--frobnicate'"},
      {{"--centers", "2", "--ranks-per-center", "1", "--timeout", "-1", "--", "true"},
       "--timeout '-1'"},
      {{"--centers", "1", "--ranks-per-center", "1", "true"}, "put the program after '--'"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{testing::launcherPath()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = testing::runCommand(argv, 20);
    EXPECT_EQ(r.exitCode, 2) << c.message << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("usage: isthmus-run"), std::string::npos) << r.output;
  }
  auto missing = runUnderLauncher({"--centers", "1", "--ranks-per-center", "1"},
                                  {"no-such-program-isthmus"}, 20);
  EXPECT_EQ(missing.exitCode, 127) << missing.output;
  EXPECT_NE(missing.output.find("'no-such-program-isthmus' was not found on PATH"),
            std::string::npos)
      << missing.output;
}

}  // namespace
}  // namespace isthmus
