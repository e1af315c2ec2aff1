// isthmus-run --wan: each center in its own network namespace, the store reachable from all of
// them through center 0's WAN address. Needs root; skips otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

TEST(LauncherWan, HelloCentersAcrossEmulatedCenters) {
  if (geteuid() != 0) GTEST_SKIP() << "--wan needs root (network namespaces)";
  auto r = testing::runUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "2", "--wan", "rate=1gbit,rtt=20ms"},
      {testing::buildPath("examples/hello_centers")}, 60);
  if (r.output.find("not available in this build") != std::string::npos) {
    GTEST_SKIP() << "this build has no WAN emulation: " << r.output;
  }
  ASSERT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
  EXPECT_EQ(testing::countLines(r.output, "hello from rank"), 4) << r.output;
  // The store lives on center 0's WAN address, not on loopback.
  EXPECT_EQ(testing::countLines(r.output, "store 10.77.0.1:"), 4) << r.output;
  EXPECT_EQ(testing::countLines(r.output, "all 4 ranks agree"), 1) << r.output;
}

TEST(LauncherWan, BadSpecIsAClearError) {
  if (geteuid() != 0) GTEST_SKIP() << "--wan needs root (network namespaces)";
  auto r = testing::runUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "1", "--wan", "rate=fast"}, {"true"}, 30);
  EXPECT_NE(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("--wan"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace isthmus
