// isthmus-run tears everything down: --timeout on ranks that ignore SIGTERM, Ctrl-C, and a
// launcher that is SIGKILLed (its ranks die with it through PDEATHSIG). Each test gives its ranks
// a unique argument and checks that no process with it is left.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "runtime/core/status.h"
#include "tests/harness/child_process.h"
#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

using testing::ChildProcess;
using testing::pidsWithCmdlineContaining;

// A unique sleep duration marks this test's ranks in the process table.
std::string marker(int salt) { return strCat("1000.", getpid(), salt); }

bool noneLeft(const std::string& token, double withinSeconds) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int>(withinSeconds * 1000));
  while (!pidsWithCmdlineContaining(token).empty()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// Starts isthmus-run directly (not through runCommand) so the test can signal it.
ChildProcess startLauncher(const std::vector<std::string>& args) {
  std::vector<std::string> argv{testing::launcherPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess::fork([argv] {
    int devNull = open("/dev/null", O_WRONLY);
    dup2(devNull, STDOUT_FILENO);
    dup2(devNull, STDERR_FILENO);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    return 127;
  });
}

// Waits until `count` ranks carry the token (the launcher's command line carries it too).
bool ranksUp(const std::string& token, size_t count) {
  for (int i = 0; i < 500; ++i) {
    if (pidsWithCmdlineContaining(token).size() >= count + 1) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(LauncherTeardown, TimeoutKillsRanksThatIgnoreSigterm) {
  const std::string token = marker(1);
  auto r =
      testing::runUnderLauncher({"--centers", "2", "--ranks-per-center", "1", "--timeout", "1"},
                                {"/bin/sh", "-c", strCat("trap '' TERM; exec sleep ", token)}, 30);
  EXPECT_EQ(r.exitCode, 124) << r.describe() << "\n" << r.output;
  EXPECT_FALSE(r.timedOut) << "the harness had to kill the launcher\n" << r.output;
  EXPECT_NE(r.output.find("timeout: the job ran longer than --timeout 1 s; still running: rank 0 "
                          "(center 0, local rank 0), rank 1 (center 1, local rank 0)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("sending SIGKILL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(exit 124)"), std::string::npos) << r.output;
  EXPECT_TRUE(noneLeft(token, 5)) << "ranks survived the launcher";
}

TEST(LauncherTeardown, SigintIsForwardedAndEverythingStops) {
  const std::string token = marker(2);
  auto launcher =
      startLauncher({"--centers", "2", "--ranks-per-center", "2", "--", "/bin/sleep", token});
  ASSERT_TRUE(ranksUp(token, 4));
  launcher.kill(SIGINT);
  auto exit = launcher.waitFor(15);
  EXPECT_EQ(exit.exitCode, 128 + SIGINT) << exit.describe();
  EXPECT_FALSE(exit.timedOut);
  EXPECT_TRUE(noneLeft(token, 5));
}

TEST(LauncherTeardown, RanksDieWithASigkilledLauncher) {
  const std::string token = marker(3);
  auto launcher =
      startLauncher({"--centers", "1", "--ranks-per-center", "3", "--", "/bin/sleep", token});
  ASSERT_TRUE(ranksUp(token, 3));
  launcher.kill(SIGKILL);
  launcher.waitFor(10);
  EXPECT_TRUE(noneLeft(token, 5)) << "PDEATHSIG did not take the ranks down";
}

}  // namespace
}  // namespace isthmus
