// isthmus-run --wan: each center in its own network namespace, the store reachable from all of
// them through center 0's WAN address. Needs root; skips otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "runtime/core/status.h"
#include "tests/harness/child_process.h"
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

TEST(LauncherWan, EachCenterRunsInItsOwnNetworkNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "--wan needs root (network namespaces)";
  auto r = testing::runUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "2", "--wan", "rtt=2ms"},
      {"/bin/sh", "-c",
       "echo \"netns=$(readlink /proc/self/ns/net) tls=$UCX_TLS ifaces=$(ls /sys/class/net | "
       "tr '\\n' ' ')\""},
      60);
  if (r.output.find("not available in this build") != std::string::npos) GTEST_SKIP();
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::map<std::string, std::string> nsOf;  // "[cX rY]" -> namespace
  std::regex line(R"((\[c\d r\d\]) netns=(\S+) tls=tcp)");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), line), end; it != end; ++it) {
    nsOf[(*it)[1]] = (*it)[2];
  }
  ASSERT_EQ(nsOf.size(), 4u) << r.output;
  EXPECT_EQ(nsOf["[c0 r0]"], nsOf["[c0 r1]"]);
  EXPECT_EQ(nsOf["[c1 r2]"], nsOf["[c1 r3]"]);
  EXPECT_NE(nsOf["[c0 r0]"], nsOf["[c1 r2]"]);
  char self[128] = {};
  ASSERT_GT(readlink("/proc/self/ns/net", self, sizeof(self) - 1), 0);
  EXPECT_NE(nsOf["[c0 r0]"], self) << "ranks must not run in the launcher's namespace";
  // /sys is the namespace's own: UCX sees lo and wan0, not the host's interfaces.
  EXPECT_EQ(testing::countLines(r.output, "ifaces=lo wan0 "), 4) << r.output;
}

// Namespaces the launcher with this pid created ("isthmus-wan-<pid>-...").
int namespacesOf(int pid) {
  int n = 0;
  DIR* dir = opendir("/run/netns");
  if (dir == nullptr) return 0;
  const std::string prefix = strCat("isthmus-wan-", pid, "-");
  while (dirent* e = readdir(dir)) {
    if (std::string(e->d_name).rfind(prefix, 0) == 0) ++n;
  }
  closedir(dir);
  return n;
}

TEST(LauncherWan, CtrlCTearsDownRanksAndNamespaces) {
  if (geteuid() != 0) GTEST_SKIP() << "--wan needs root (network namespaces)";
  const std::string token = strCat("1001.", getpid());
  std::vector<std::string> argv{testing::launcherPath(),
                                "--centers",
                                "2",
                                "--ranks-per-center",
                                "1",
                                "--wan",
                                "rtt=2ms",
                                "--",
                                "/bin/sleep",
                                token};
  auto launcher = testing::ChildProcess::fork([argv] {
    int devNull = open("/dev/null", O_WRONLY);
    dup2(devNull, STDOUT_FILENO);
    dup2(devNull, STDERR_FILENO);
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    return 127;
  });
  bool up = false;
  for (int i = 0; i < 1000 && !up; ++i) {
    // The launcher's own command line carries the token too: launcher + 2 ranks.
    up = testing::pidsWithCmdlineContaining(token).size() >= 3;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!up) {
    launcher.kill(SIGINT);  // not SIGKILL: let it remove its namespaces
    auto exit = launcher.waitFor(10);
    GTEST_SKIP() << "ranks did not come up (" << exit.describe() << "): no WAN emulation here?";
  }
  EXPECT_EQ(namespacesOf(launcher.pid()), 2);
  launcher.kill(SIGINT);
  auto exit = launcher.waitFor(20);
  EXPECT_EQ(exit.exitCode, 128 + SIGINT) << exit.describe();
  EXPECT_TRUE(testing::pidsWithCmdlineContaining(token).empty());
  EXPECT_EQ(namespacesOf(launcher.pid()), 0) << "network namespaces left behind";
}

}  // namespace
}  // namespace isthmus
