// The TCP store under faults: deadlines, a server that dies mid-wait, garbage and oversize frames
// from one client while the others keep working.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/store/tcp_store.h"
#include "runtime/store/tcp_store_protocol.h"
#include "tests/multiproc/store/forked_server.h"

namespace isthmus {
namespace {

std::unique_ptr<TcpStoreClient> connectOrDie(uint16_t port) {
  auto c = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(10));
  ISTHMUS_CHECK(c.ok(), c.status().toString());
  return std::move(*c);
}

// A raw TCP connection for sending bytes no client would send. Returns its local port.
int rawConnect(uint16_t port, uint16_t* localPort) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ISTHMUS_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "connect");
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  *localPort = ntohs(local.sin_port);
  return fd;
}

// True when the server closed fd (read returns 0 or reset) within the timeout.
bool closedByServer(int fd, double timeoutSeconds) {
  timeval tv{static_cast<time_t>(timeoutSeconds), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[256];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

TEST(TcpStoreFaults, WaitPastDeadlineNamesMissingKeysAndTime) {
  auto server = testing::forkStoreServer();
  ASSERT_NE(server.port, 0);
  auto client = connectOrDie(server.port);
  ASSERT_TRUE(client->set("present", "1").ok());
  const auto start = Deadline::Clock::now();
  Status st = client->wait({"present", "never-set"}, Deadline::afterSeconds(0.5));
  const double elapsed = secondsSince(start);
  ASSERT_EQ(st.code(), StatusCode::kTimeout) << st.toString();
  EXPECT_NE(st.message().find("missing: [never-set]"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("127.0.0.1:"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(" s "), std::string::npos) << st.message();
  EXPECT_GE(elapsed, 0.45);
  auto got = client->get("never-set", Deadline::afterSeconds(0.2));
  ASSERT_EQ(got.status().code(), StatusCode::kTimeout);
  EXPECT_NE(got.status().message().find("never-set"), std::string::npos);
  // The connection is still usable after a timed-out wait.
  EXPECT_TRUE(*client->check("present"));
}

TEST(TcpStoreFaults, ServerKilledMidWaitGivesPeerLostWithoutHang) {
  auto server = testing::forkStoreServer();
  ASSERT_NE(server.port, 0);
  auto client = connectOrDie(server.port);
  Status waited;
  double elapsed = 0;
  std::thread waiter([&] {
    const auto start = Deadline::Clock::now();
    waited = client->wait({"never"}, Deadline::afterSeconds(30));
    elapsed = secondsSince(start);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server.process.kill(SIGKILL);
  auto exit = server.process.waitFor(10);
  EXPECT_EQ(exit.signal, SIGKILL);
  waiter.join();
  ASSERT_EQ(waited.code(), StatusCode::kPeerLost) << waited.toString();
  EXPECT_NE(waited.message().find("closed the connection"), std::string::npos) << waited.message();
  EXPECT_NE(waited.message().find(strCat("127.0.0.1:", server.port)), std::string::npos);
  EXPECT_LT(elapsed, 10.0) << "the wait should end when the server dies, not at its deadline";
  // Later calls fail fast too.
  EXPECT_EQ(client->set("x", "y").code(), StatusCode::kPeerLost);
}

TEST(TcpStoreFaults, ConnectToNobodyTimesOutNamingTheAddress) {
  // Bind a port and close it again: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);
  close(fd);
  auto client = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(0.3));
  ASSERT_EQ(client.status().code(), StatusCode::kTimeout) << client.status().toString();
  EXPECT_NE(client.status().message().find(strCat("127.0.0.1:", port)), std::string::npos);
}

TEST(TcpStoreFaults, ConnectRetriesUntilTheServerStarts) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);
  close(fd);
  std::unique_ptr<TcpStoreServer> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto s = TcpStoreServer::start("127.0.0.1", port);
    if (s.ok()) server = std::move(*s);
  });
  auto client = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(10));
  starter.join();
  if (!server) GTEST_SKIP() << "port " << port << " was taken before the server could bind it";
  ASSERT_TRUE(client.ok()) << client.status().toString();
  EXPECT_TRUE((*client)->set("k", "v").ok());
}

TEST(TcpStoreFaults, GarbageAndOversizeFramesCloseOnlyThatClient) {
  TcpStoreServer::Options options;
  options.host = "127.0.0.1";
  options.maxFrameBytes = 4096;
  auto started = TcpStoreServer::start(options);
  ASSERT_TRUE(started.ok()) << started.status().toString();
  auto& server = **started;
  auto good = connectOrDie(server.port());
  auto other = connectOrDie(server.port());
  // A wait that is parked on the server while the garbage arrives.
  Status waited;
  std::thread waiter([&] { waited = good->wait({"after-garbage"}, Deadline::afterSeconds(20)); });

  ::testing::internal::CaptureStderr();
  struct Case {
    const char* name;
    std::string bytes;
  };
  std::vector<Case> cases;
  cases.push_back({"http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"});
  {
    std::string random(4096, '\0');
    unsigned seed = 7;
    for (auto& c : random) c = static_cast<char>(rand_r(&seed));
    cases.push_back({"random bytes", random});
  }
  {
    store_wire::FrameHeader h;
    h.op = store_wire::kOpSet;
    h.length = 1u << 30;  // far past maxFrameBytes
    std::string frame(store_wire::kHeaderBytes, '\0');
    store_wire::encodeHeader(h, frame.data());
    cases.push_back({"oversize frame", frame});
  }
  {
    store_wire::FrameHeader h;
    h.version = 99;
    std::string frame(store_wire::kHeaderBytes, '\0');
    store_wire::encodeHeader(h, frame.data());
    cases.push_back({"wrong version", frame});
  }
  // A well-framed set whose key length runs past the payload.
  cases.push_back({"truncated payload",
                   store_wire::makeFrame(store_wire::kOpSet, std::string("\xff\x00\x00\x00", 4))});
  cases.push_back({"unknown op", store_wire::makeFrame(77, "")});
  std::vector<uint16_t> garbagePorts;
  for (const auto& c : cases) {
    uint16_t localPort = 0;
    int fd = rawConnect(server.port(), &localPort);
    garbagePorts.push_back(localPort);
    ASSERT_EQ(send(fd, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(c.bytes.size()));
    EXPECT_TRUE(closedByServer(fd, 10)) << c.name << ": server kept the connection open";
    close(fd);
    // The others keep working between the bad frames.
    ASSERT_TRUE(other->set(strCat("ok/", c.name), "1").ok()) << c.name;
    EXPECT_EQ(*other->add("n", 1), static_cast<int64_t>(garbagePorts.size()));
  }
  ASSERT_TRUE(other->set("after-garbage", "1").ok());
  waiter.join();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(waited.ok()) << waited.toString();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_NE(log.find(strCat("closing connection from 127.0.0.1:", garbagePorts[i])),
              std::string::npos)
        << cases[i].name << " not logged with its address; log:\n"
        << log;
  }
  EXPECT_NE(log.find("exceeds the limit of 4096 bytes"), std::string::npos) << log;
  EXPECT_NE(log.find("bad frame magic"), std::string::npos) << log;
  EXPECT_EQ(*good->get("ok/unknown op", Deadline::afterSeconds(5)), "1");
}

TEST(TcpStoreFaults, StopClosesClientsWithPeerLost) {
  auto started = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(started.ok());
  auto client = connectOrDie((*started)->port());
  Status waited;
  std::thread waiter([&] { waited = client->wait({"never"}, Deadline::afterSeconds(30)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (*started)->stop();
  waiter.join();
  EXPECT_EQ(waited.code(), StatusCode::kPeerLost) << waited.toString();
}

TEST(TcpStoreFaults, ConnectStoreFromEnvNamesMissingVariables) {
  unsetenv("MASTER_ADDR");
  unsetenv("MASTER_PORT");
  auto r = connectStoreFromEnv(Deadline::afterSeconds(1));
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("MASTER_ADDR"), std::string::npos);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "99999", 1);
  r = connectStoreFromEnv(Deadline::afterSeconds(1));
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("MASTER_PORT='99999'"), std::string::npos);
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  setenv("MASTER_PORT", std::to_string((*server)->port()).c_str(), 1);
  r = connectStoreFromEnv(Deadline::afterSeconds(5));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TRUE((*r)->set("k", "v").ok());
}

}  // namespace
}  // namespace isthmus
