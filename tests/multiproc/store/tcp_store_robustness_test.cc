// The TCP store against hostile and heavy use: random well-framed requests, a client that
// disconnects while parked in a wait, many parked waiters released by one set, large values.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "runtime/store/tcp_store.h"
#include "runtime/store/tcp_store_protocol.h"

namespace isthmus {
namespace {

int rawConnect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ISTHMUS_CHECK(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "connect");
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

std::unique_ptr<TcpStoreServer> startServer() {
  TcpStoreServer::Options options;
  options.host = "127.0.0.1";
  options.maxFrameBytes = 1 << 16;
  auto s = TcpStoreServer::start(options);
  ISTHMUS_CHECK(s.ok(), s.status().toString());
  return std::move(*s);
}

TEST(TcpStoreRobustness, RandomWellFramedRequestsNeverHurtTheServer) {
  auto server = startServer();
  auto good = TcpStoreClient::connect("127.0.0.1", server->port(), Deadline::afterSeconds(10));
  ASSERT_TRUE(good.ok());
  std::mt19937 rng(1234);
  for (int i = 0; i < 300; ++i) {
    const uint8_t op = static_cast<uint8_t>(1 + rng() % 9);  // real ops and one unknown
    std::string payload(rng() % 64, '\0');
    for (auto& c : payload) c = static_cast<char>(rng());
    // Make some payloads look plausible: a small length prefix.
    if (payload.size() >= 4 && rng() % 2 == 0) {
      payload[0] = static_cast<char>(payload.size() / 2);
      payload[1] = payload[2] = payload[3] = 0;
    }
    int fd = rawConnect(server->port());
    const std::string frame = store_wire::makeFrame(op, payload);
    ASSERT_EQ(send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(frame.size()));
    char buf[256];
    (void)!recv(fd, buf, sizeof(buf), 0);  // a reply, a close, or a parked wait: all fine
    close(fd);
    if (i % 50 == 0) {
      ASSERT_TRUE((*good)->set(strCat("alive/", i), "1").ok()) << "after " << i << " frames";
    }
  }
  EXPECT_EQ(*(*good)->add("still-counting", 1), 1);
}

TEST(TcpStoreRobustness, ClientGoneWhileParkedIsForgotten) {
  auto server = startServer();
  {
    auto leaver = TcpStoreClient::connect("127.0.0.1", server->port(), Deadline::afterSeconds(10));
    ASSERT_TRUE(leaver.ok());
    // Park a wait, then drop the connection from under it (raw socket: no client-side wait).
    int fd = rawConnect(server->port());
    store_wire::Writer w;
    w.i64(-1).u32(1).str("ghost-key");
    const std::string frame = store_wire::makeFrame(store_wire::kOpWait, w.bytes());
    ASSERT_EQ(send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(frame.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    close(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto c = TcpStoreClient::connect("127.0.0.1", server->port(), Deadline::afterSeconds(10));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->set("ghost-key", "now").ok());  // must not write to the closed waiter
  EXPECT_EQ(*(*c)->get("ghost-key", Deadline::afterSeconds(5)), "now");
}

TEST(TcpStoreRobustness, OneSetReleasesManyParkedWaiters) {
  auto server = startServer();
  auto c = TcpStoreClient::connect("127.0.0.1", server->port(), Deadline::afterSeconds(10));
  ASSERT_TRUE(c.ok());
  std::shared_ptr<Store> store(std::move(*c));
  constexpr int kWaiters = 64;
  std::vector<std::thread> threads;
  std::vector<Status> results(kWaiters);
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = store->wait({"gate"}, Deadline::afterSeconds(20)); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(store->set("gate", "open").ok());
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWaiters; ++i)
    EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].toString();
}

TEST(TcpStoreRobustness, LargeValuesRoundTrip) {
  auto s = TcpStoreServer::start("127.0.0.1", 0);  // default frame limit (64 MiB)
  ASSERT_TRUE(s.ok());
  auto c = TcpStoreClient::connect("127.0.0.1", (*s)->port(), Deadline::afterSeconds(10));
  ASSERT_TRUE(c.ok());
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  ASSERT_TRUE((*c)->set("big", big).ok());
  auto back = (*c)->get("big", Deadline::afterSeconds(10));
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_TRUE(*back == big);
}

}  // namespace
}  // namespace isthmus
