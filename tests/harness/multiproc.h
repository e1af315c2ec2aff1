// Multi-process test harness: run real rank processes under the launcher (isthmus-run) from a
// GoogleTest, with a hard timeout and no processes left behind.
//
// Contract
// - runCommand / runUnderLauncher start a child in its own process group, capture its stdout and
//   stderr (merged, in arrival order) and wait. Past timeoutSeconds the child's process group gets
//   SIGTERM (the launcher then stops its ranks), then SIGKILL 3 s later; the result says
//   timedOut. Ranks die with the launcher (they run under PR_SET_PDEATHSIG). The calls never
//   throw and never hang; call them from the test's main thread (or any one thread).
// - The self re-exec pattern: a test body runs twice. In the parent (a plain gtest process)
//   isChild() is false and the test calls runThisTestUnderLauncher(); that starts
//   `isthmus-run <launcherArgs> -- <this binary> --gtest_filter=<this test>` with
//   ISTHMUS_TEST_CHILD=1 in the ranks' environment. In each rank isChild() is true and the same
//   test body runs as that rank (RANK, WORLD_SIZE, MASTER_ADDR, ... are set by the launcher;
//   connect with connectStoreFromEnv() from runtime/store/tcp_store.h). A failed EXPECT/ASSERT
//   makes the rank exit 1, the launcher stops the others and exits non-zero, and the parent's
//   EXPECT on exitCode fails with every rank's prefixed output in the message.
//
// Example
//   #include "tests/harness/multiproc.h"
//   TEST(MyTransport, PingPong) {
//     if (isthmus::testing::isChild()) {
//       auto store = isthmus::connectStoreFromEnv(isthmus::Deadline::afterSeconds(20));
//       ASSERT_TRUE(store.ok()) << store.status().toString();
//       ...  // the rank's part of the test
//       return;
//     }
//     auto r = isthmus::testing::runThisTestUnderLauncher(
//         {"--centers", "2", "--ranks-per-center", "2"}, /*timeoutSeconds=*/60);
//     EXPECT_EQ(r.exitCode, 0) << r.output;
//   }
//
// CMake (tests/CMakeLists.txt adds tests/harness before the test groups):
//   isthmus_add_gtest(NAME my_test SOURCES my_test.cc LIBS isthmus_test_harness isthmus_runtime
//                     LABELS multiproc TIMEOUT 120 NEEDS isthmus_run)  # launcher built first
// Keep the ctest TIMEOUT above the timeoutSeconds you pass, so the harness (not ctest) kills the
// tree and reports what the ranks printed.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace isthmus::testing {

struct MultiProcResult {
  int exitCode = -1;      // the child's exit status; 128 + signal if a signal killed it
  int termSignal = 0;     // the signal that killed it, 0 if it exited
  bool timedOut = false;  // the harness killed it at timeoutSeconds
  double seconds = 0;     // wall time until it ended
  std::string output;     // stdout and stderr, merged
  // "exit 0 after 1.2 s", "killed by SIGKILL after 60.0 s (timed out)"; for failure messages.
  std::string describe() const;
};

// Runs argv (argv[0] is a path or a name looked up on PATH) with the extra environment entries
// ("NAME=value") added to this process's environment.
MultiProcResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds,
                           const std::vector<std::string>& extraEnv = {});

// Runs `isthmus-run <launcherArgs> -- <program...>`.
MultiProcResult runUnderLauncher(const std::vector<std::string>& launcherArgs,
                                 const std::vector<std::string>& program, double timeoutSeconds,
                                 const std::vector<std::string>& extraEnv = {});

// Runs the current gtest test as the ranks (see the contract above). Extra arguments for the
// child binary may follow in childArgs (they come after --gtest_filter).
MultiProcResult runThisTestUnderLauncher(const std::vector<std::string>& launcherArgs,
                                         double timeoutSeconds,
                                         const std::vector<std::string>& childArgs = {},
                                         const std::vector<std::string>& extraEnv = {});

// True inside a rank started by runThisTestUnderLauncher (ISTHMUS_TEST_CHILD=1).
bool isChild();

// Path of isthmus-run: $ISTHMUS_RUN if set, else the one built with this harness.
std::string launcherPath();
// Path of a binary built in this build tree, e.g. buildPath("examples/hello_centers").
std::string buildPath(const std::string& relative);
// Path of the running executable (/proc/self/exe resolved).
std::string selfExePath();

// Counts lines of `output` that contain `needle`.
int countLines(const std::string& output, const std::string& needle);

// Pids of live processes (not zombies, not this one) whose command line contains `needle`, for
// asserting that a test left nothing behind: give the ranks a unique argument and look for it.
std::vector<int> pidsWithCmdlineContaining(const std::string& needle);

}  // namespace isthmus::testing
