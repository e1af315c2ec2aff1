// Acceptance 3: a listener refuses strangers (wrong secret, job id, version; bytes that are not a
// handshake; a handshake that stalls halfway; raw TCP garbage), logs each reason with the remote
// address, and keeps serving: a legitimate peer connects afterwards and data flows.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "tests/multiproc/transport/transport_test_util.h"

namespace isthmus {
namespace {

// Opens a plain TCP connection to host:port, writes `bytes` random bytes and closes it.
void rawTcpGarbage(const std::string& address, size_t bytes) {
  auto colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  std::mt19937 rng(3);
  std::string junk(bytes, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  ssize_t n = write(fd, junk.data(), junk.size());
  (void)n;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  close(fd);
}

TEST(Security, StrangersAreRefusedWithReasonsAndTheListenerKeepsServing) {
  auto store = makeHashStore();
  Result<std::unique_ptr<UcxTransport>> victim = internalError("not created");
  std::thread victimThread([&] {
    auto o = testing::baseOptions(0, 2, store);
    o.handshakeTimeoutSeconds = 1.0;
    victim = UcxTransport::create(o, Deadline::afterSeconds(60));
  });
  auto address = store->get("ucx/addr/0", Deadline::afterSeconds(10));
  ASSERT_TRUE(address.ok()) << address.status().toString();

  HandshakeProbe good;
  good.address = *address;
  good.jobId = "test-job";
  good.secret = "test-secret";
  good.rank = 1;

  struct Attack {
    const char* name;
    HandshakeProbe probe;
    const char* clientSees;    // in the probe's kUnauthenticated message
    const char* listenerLogs;  // in the victim's refusal line
  };
  std::vector<Attack> attacks;
  {
    HandshakeProbe p = good;
    p.secret = "not-the-secret";
    attacks.push_back({"wrong secret", p, "secret differs", "secret differs"});
  }
  {
    HandshakeProbe p = good;
    p.jobId = "other-job";
    attacks.push_back({"wrong job", p, "wrong job id 'other-job'", "wrong job id 'other-job'"});
  }
  {
    HandshakeProbe p = good;
    p.protocolVersion = 99;
    attacks.push_back({"wrong version", p, "wrong protocol version 99", "protocol version 99"});
  }
  {
    HandshakeProbe p = good;
    p.misbehave = "garbage";
    attacks.push_back({"garbage", p, "not a handshake", "not a handshake"});
  }
  {
    HandshakeProbe p = good;
    p.misbehave = "stall";
    attacks.push_back({"stall", p, "stalled", "handshake stalled"});
  }

  for (auto& a : attacks) {
    Status st = probeHandshake(a.probe, Deadline::afterSeconds(10));
    EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << a.name << ": " << st.toString();
    EXPECT_NE(st.message().find(a.clientSees), std::string::npos)
        << a.name << ": " << st.toString();
  }
  // Raw TCP bytes that are not even UCX: UCX's connection manager drops them.
  rawTcpGarbage(*address, 4096);
  rawTcpGarbage(*address, 17);

  // The legitimate rank 1 connects afterwards and data flows both ways.
  auto o1 = testing::baseOptions(1, 2, store);
  auto legit = UcxTransport::create(o1, Deadline::afterSeconds(30));
  victimThread.join();
  ASSERT_TRUE(legit.ok()) << legit.status().toString();
  ASSERT_TRUE(victim.ok()) << victim.status().toString();
  std::vector<uint8_t> a(1 << 20), b(1 << 20);
  testing::fillPattern(a, 1, 0, 1);
  auto r = (*victim)->irecv(1, 1, b.data(), b.size(), Deadline::afterSeconds(10));
  auto s = (*legit)->isend(0, 1, a.data(), a.size(), Deadline::afterSeconds(10));
  EXPECT_TRUE(s->wait(Deadline::afterSeconds(10)).ok());
  EXPECT_TRUE(r->wait(Deadline::afterSeconds(10)).ok());
  EXPECT_EQ(testing::checkPattern(b, 1, 0, 1), -1);

  // Each refusal was logged with its reason and the stranger's address.
  auto refusals = (*victim)->refusals();
  std::string all;
  for (const auto& line : refusals) all += line + "\n";
  for (auto& a : attacks) {
    bool found = false;
    for (const auto& line : refusals) {
      if (line.find(a.listenerLogs) != std::string::npos &&
          line.find("refused connection from 127.0.0.1:") != std::string::npos) {
        found = true;
      }
    }
    EXPECT_TRUE(found) << a.name << " not in refusals:\n" << all;
  }
  std::cout << "refusals logged by the listener:\n" << all;
}

TEST(Security, DialerWithTheWrongSecretFailsCreationWithTheListenersReason) {
  auto group = testing::makeGroup(
      2,
      [](UcxTransportOptions& o) {
        if (o.rank == 1) o.secret = "wrong";
      },
      5);
  ASSERT_FALSE(group[1].ok());
  EXPECT_EQ(group[1].status().code(), StatusCode::kUnauthenticated) << group[1].status().toString();
  EXPECT_NE(group[1].status().message().find("refused us"), std::string::npos);
  ASSERT_FALSE(group[0].ok());
  EXPECT_EQ(group[0].status().code(), StatusCode::kTimeout) << group[0].status().toString();
  EXPECT_NE(group[0].status().message().find("rank 1"), std::string::npos);
}

TEST(Security, MissingSecretIsUnauthenticatedAtCreation) {
  unsetenv("ISTHMUS_JOB_SECRET");
  unsetenv("ISTHMUS_JOB_SECRET_FILE");
  auto o = testing::baseOptions(0, 1, nullptr);
  o.secret.clear();
  auto t = UcxTransport::create(o, Deadline::afterSeconds(5));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
  char path[] = "/tmp/isthmus-secret-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "from-file\n", 10), 10);
  close(fd);
  setenv("ISTHMUS_JOB_SECRET_FILE", path, 1);
  auto secret = loadJobSecret();
  unlink(path);
  unsetenv("ISTHMUS_JOB_SECRET_FILE");
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(*secret, "from-file");
}

}  // namespace
}  // namespace isthmus
