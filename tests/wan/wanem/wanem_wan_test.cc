// WAN emulator under real namespaces (label wan, needs root; skipped with the reason otherwise).
//
// Every test checks that `ip netns list` shows no namespace of ours afterwards. Assertions are on
// correctness (bytes intact, delay present, clean teardown), never on speed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "tests/wan/wanem/wan_test_util.h"
#include "tools/wanem/netns.h"
#include "tools/wanem/probe.h"
#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

using testing::ipNetnsList;
using testing::namespacesOwnedBy;
using testing::pidsWithCmdline;
using testing::waitUntil;

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + " ";
  return s;
}

class WanemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status st = checkPrivileges();
    if (!st.ok()) GTEST_SKIP() << "needs root for network namespaces: " << st.message();
    owners_.insert(getpid());
  }
  void TearDown() override {
    if (owners_.empty()) return;  // skipped
    EXPECT_EQ(join(namespacesOwnedBy(owners_)), "") << "namespaces of ours left behind";
  }
  std::unique_ptr<WanEmulation> start(int centers, const std::string& specText) {
    auto spec = parseWanSpec(specText);
    EXPECT_TRUE(spec.ok()) << spec.status().toString();
    if (!spec.ok()) return nullptr;
    auto emu = WanEmulation::start(centers, *spec);
    EXPECT_TRUE(emu.ok()) << emu.status().toString();
    if (!emu.ok()) return nullptr;
    return std::move(emu).value();
  }
  // RTT from inside center `from` to an echo server inside center `to` (median, ms).
  double echoRttMs(const WanEmulation& emu, int from, int to, int count = 10) {
    std::unique_ptr<EchoServer> server;
    Status st = runInNetns(emu.netnsPath(to), [&]() -> Status {
      ISTHMUS_ASSIGN_OR_RETURN(server, EchoServer::start(emu.address(to), 0));
      return okStatus();
    });
    EXPECT_TRUE(st.ok()) << st.toString();
    if (!st.ok()) return -1;
    double median = -1;
    st = runInNetns(emu.netnsPath(from), [&]() -> Status {
      ISTHMUS_ASSIGN_OR_RETURN(ProbeResult r, probeRtt(emu.address(to), server->port(), count, 64,
                                                       Deadline::afterSeconds(30)));
      median = r.echo.medianMs;
      return okStatus();
    });
    EXPECT_TRUE(st.ok()) << st.toString();
    server->stop();
    return median;
  }
  std::set<int> owners_;
};

TEST_F(WanemTest, TwoCentersExchangeBytesIntactWithTheDelay) {
  auto emu = start(2, "rate=500mbit,rtt=20ms");
  ASSERT_NE(emu, nullptr);
  EXPECT_EQ(emu->address(0), "10.77.0.1");
  EXPECT_EQ(emu->address(1), "10.77.0.2");
  auto listed = ipNetnsList();
  EXPECT_NE(join(listed).find(emu->netnsName(0)), std::string::npos);
  EXPECT_NE(join(listed).find(emu->netnsName(1)), std::string::npos);

  // Only lo and wan0 inside, and the only route is the emulated WAN's /24.
  for (int c = 0; c < 2; ++c) {
    std::string links = testing::commandOutput("ip -n " + emu->netnsName(c) + " -o link show");
    EXPECT_NE(links.find(" lo: "), std::string::npos) << links;
    EXPECT_NE(links.find(" wan0: "), std::string::npos) << links;
    EXPECT_EQ(std::count(links.begin(), links.end(), '\n'), 2) << links;
    std::string routes = testing::commandOutput("ip -n " + emu->netnsName(c) + " -4 route show");
    EXPECT_EQ(routes,
              "10.77.0.0/24 dev wan0 proto kernel scope link src " + emu->address(c) + " \n")
        << routes;
  }

  auto bytes = randomBytes(4 << 20, 1);
  auto hash = testing::transferAndHash(emu->netnsPath(0), emu->netnsPath(1), emu->address(1), bytes,
                                       Deadline::afterSeconds(60));
  ASSERT_TRUE(hash.ok()) << hash.status().toString();
  EXPECT_EQ(*hash, testing::fnv1a(bytes)) << "bytes changed on the way";
  // And the other way round.
  auto back = randomBytes(1 << 20, 2);
  hash = testing::transferAndHash(emu->netnsPath(1), emu->netnsPath(0), emu->address(0), back,
                                  Deadline::afterSeconds(60));
  ASSERT_TRUE(hash.ok()) << hash.status().toString();
  EXPECT_EQ(*hash, testing::fnv1a(back));

  double rtt = echoRttMs(*emu, 0, 1);
  EXPECT_GE(rtt, 19.0) << "the link has a 20 ms round trip";
  EXPECT_LT(rtt, 200.0);

  WanStats s = emu->stats();
  ASSERT_EQ(s.directions.size(), 2u);
  for (const DirectionStats& d : s.directions) {
    EXPECT_GT(d.packetsOut, 0u) << d.src << "->" << d.dst;
    EXPECT_EQ(d.droppedLoss, 0u);
    EXPECT_EQ(d.writeErrors, 0u);
  }
  EXPECT_GE(s.directions[0].bytesOut, (4u << 20) + (1u << 20) / 100);
  ASSERT_TRUE(emu->stop().ok());
  EXPECT_TRUE(emu->stop().ok()) << "stop is idempotent";
  EXPECT_NE(access(emu->netnsPath(0).c_str(), F_OK), 0) << "namespace file removed";
}

TEST_F(WanemTest, LossyLinkLosesPacketsButTcpDeliversIntact) {
  auto emu = start(2, "rate=200mbit,rtt=10ms,loss=2%");
  ASSERT_NE(emu, nullptr);
  auto bytes = randomBytes(2 << 20, 3);
  auto hash = testing::transferAndHash(emu->netnsPath(0), emu->netnsPath(1), emu->address(1), bytes,
                                       Deadline::afterSeconds(90));
  ASSERT_TRUE(hash.ok()) << hash.status().toString();
  EXPECT_EQ(*hash, testing::fnv1a(bytes));
  WanStats s = emu->stats();
  uint64_t lost = 0, sent = 0;
  for (const DirectionStats& d : s.directions) {
    lost += d.droppedLoss;
    sent += d.packetsIn;
  }
  EXPECT_GT(lost, 0u) << s.toString();
  EXPECT_LT(lost, sent / 10) << "2% loss, not more than 10%: " << s.toString();
}

TEST_F(WanemTest, PerPairSettingsAndIntraCenterTrafficUntouched) {
  auto emu = start(3, "rate=1gbit,rtt=10ms;0-2:rtt=60ms");
  ASSERT_NE(emu, nullptr);
  double near = echoRttMs(*emu, 0, 1);
  double far = echoRttMs(*emu, 0, 2);
  EXPECT_GE(near, 9.5);
  EXPECT_GE(far, 57.0);
  EXPECT_GT(far, near + 30) << "pair 0-2 has its own 60 ms";
  // Inside a center, loopback never reaches the relay.
  WanStats before = emu->stats();
  std::unique_ptr<EchoServer> server;
  double local = -1;
  Status st = runInNetns(emu->netnsPath(1), [&]() -> Status {
    ISTHMUS_ASSIGN_OR_RETURN(server, EchoServer::start("127.0.0.1", 0));
    ISTHMUS_ASSIGN_OR_RETURN(
        ProbeResult r, probeRtt("127.0.0.1", server->port(), 10, 64, Deadline::afterSeconds(30)));
    local = r.echo.medianMs;
    return okStatus();
  });
  ASSERT_TRUE(st.ok()) << st.toString();
  server->stop();
  EXPECT_LT(local, 9.0) << "loopback inside a center has no WAN delay";
  WanStats after = emu->stats();
  for (size_t i = 0; i < after.directions.size(); ++i) {
    EXPECT_EQ(after.directions[i].packetsIn, before.directions[i].packetsIn);
  }
}

TEST_F(WanemTest, PacketsTheRelayNeverReadIsReportedAsFallingBehind) {
  // One center: no relay reader runs, so datagrams to a center that does not exist pile up in
  // wan0 until the device drops them. The emulator must report that, not hide it.
  auto emu = start(1, "rate=1gbit,rtt=10ms");
  ASSERT_NE(emu, nullptr);
  EXPECT_TRUE(emu->stats().keptUp());
  Status st = runInNetns(emu->netnsPath(0), [&]() -> Status {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return internalError("socket: ", std::strerror(errno));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9);
    inet_pton(AF_INET, "10.77.0.99", &sa.sin_addr);
    char payload[32] = {};
    for (int i = 0; i < 6000; ++i) {
      sendto(fd, payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    }
    close(fd);
    return okStatus();
  });
  ASSERT_TRUE(st.ok()) << st.toString();
  WanStats s = emu->stats();
  ASSERT_EQ(s.tunTxDropped.size(), 1u);
  EXPECT_GT(s.tunTxDropped[0], 0u) << s.toString();
  EXPECT_FALSE(s.keptUp());
  EXPECT_NE(s.toString().find("RELAY FELL BEHIND"), std::string::npos) << s.toString();
  ASSERT_TRUE(emu->stop().ok());
  EXPECT_GT(emu->stats().tunTxDropped[0], 0u) << "final counters kept after stop";
}

TEST_F(WanemTest, StaleNamespacesOfDeadOwnersGoLiveOnesStay) {
  // A dead owner: a child that has exited and been reaped.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  uint64_t childStart = processStartTime(child);
  waitpid(child, nullptr, 0);
  owners_.insert(child);
  std::string dead = makeNetnsName(OwnerId{child, childStart + 1}, 0, 0);
  std::string live = makeNetnsName(selfOwner(), 999, 0);
  ASSERT_TRUE(createNetns(dead).ok());
  ASSERT_TRUE(createNetns(live).ok());
  int removed = -1;
  ASSERT_TRUE(cleanupStaleNamespaces(&removed).ok());
  EXPECT_GE(removed, 1);
  std::string names = join(ipNetnsList());
  EXPECT_EQ(names.find(dead), std::string::npos) << "dead owner's namespace removed";
  EXPECT_NE(names.find(live), std::string::npos) << "live owner's namespace kept";
  ASSERT_TRUE(deleteNetns(live).ok());
}

// The CLI under signals: SIGINT tears down; SIGKILL leaves namespaces that the next start
// removes. The command it runs must not outlive it either way.
class WanemCliTest : public WanemTest {
 protected:
  std::string cliPath() {
    const char* dir = std::getenv("ISTHMUS_BUILD_DIR");
    return std::string(dir ? dir : ".") + "/tools/wanem/isthmus-wanem";
  }
  // Starts `isthmus-wanem run ... -- sleep <unique>` and waits for its namespaces.
  pid_t startCli(const std::string& sleepArg) {
    std::string cli = cliPath();
    if (access(cli.c_str(), X_OK) != 0) {
      ADD_FAILURE() << "CLI not found at " << cli;
      return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      execl(cli.c_str(), cli.c_str(), "run", "--centers", "2", "--wan", "rate=100mbit,rtt=10ms",
            "--", "sleep", sleepArg.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    owners_.insert(pid);
    bool up = waitUntil(
        [&] {
          return namespacesOwnedBy({pid}).size() == 2 &&
                 !pidsWithCmdline("sleep " + sleepArg).empty();
        },
        Deadline::afterSeconds(30));
    EXPECT_TRUE(up) << "isthmus-wanem run did not come up within 30 s";
    return pid;
  }
  // waitpid with a deadline; returns the status or -1.
  int waitExit(pid_t pid, double seconds) {
    int status = -1;
    bool done = waitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                          Deadline::afterSeconds(seconds));
    if (!done) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    return status;
  }
};

TEST_F(WanemCliTest, SigintTearsEverythingDown) {
  const std::string sleepArg = strCat("301.", getpid(), "1");
  pid_t pid = startCli(sleepArg);
  ASSERT_GT(pid, 0);
  kill(pid, SIGINT);
  int status = waitExit(pid, 30);
  ASSERT_NE(status, -1) << "isthmus-wanem did not exit within 30 s of SIGINT";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  EXPECT_EQ(join(namespacesOwnedBy({pid})), "");
  EXPECT_TRUE(waitUntil([&] { return pidsWithCmdline("sleep " + sleepArg).empty(); },
                        Deadline::afterSeconds(10)))
      << "the command outlived isthmus-wanem";
}

TEST_F(WanemCliTest, SigkillLeavesStaleNamespacesThatTheNextStartRemoves) {
  const std::string sleepArg = strCat("302.", getpid(), "2");
  pid_t pid = startCli(sleepArg);
  ASSERT_GT(pid, 0);
  kill(pid, SIGKILL);
  int status = waitExit(pid, 30);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(namespacesOwnedBy({pid}).size(), 2u) << "SIGKILL leaves the namespaces (stale)";
  EXPECT_TRUE(waitUntil([&] { return pidsWithCmdline("sleep " + sleepArg).empty(); },
                        Deadline::afterSeconds(10)))
      << "the command outlived a SIGKILLed isthmus-wanem";
  // The next start cleans up and works.
  auto emu = start(2, "rate=100mbit,rtt=10ms");
  ASSERT_NE(emu, nullptr);
  EXPECT_EQ(join(namespacesOwnedBy({pid})), "") << "stale namespaces removed at start";
  auto bytes = randomBytes(256 << 10, 4);
  auto hash = testing::transferAndHash(emu->netnsPath(0), emu->netnsPath(1), emu->address(1), bytes,
                                       Deadline::afterSeconds(30));
  ASSERT_TRUE(hash.ok()) << hash.status().toString();
  EXPECT_EQ(*hash, testing::fnv1a(bytes));
  ASSERT_TRUE(emu->stop().ok());
}

}  // namespace
}  // namespace isthmus::wanem
