// Congestion control for the connections between centers (runtime/transport/ucx/tcp_tuning.h).
#include "runtime/transport/ucx/tcp_tuning.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus::ucximpl {
namespace {

std::string congestionOf(int fd) {
  char name[32] = {};
  socklen_t len = sizeof(name);
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) != 0) return "?";
  return std::string(name, strnlen(name, sizeof(name)));
}

// A connected TCP pair over loopback: {client, accepted}.
struct Pair {
  int client = -1, server = -1;
  ~Pair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

void connectPair(Pair* p) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  socklen_t len = sizeof(a);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  p->client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(p->client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  p->server = accept(listener, nullptr, nullptr);
  ASSERT_GE(p->server, 0);
  close(listener);
}

TEST(TcpTuning, SetsOnlyNewSocketsToTheGivenHosts) {
  Pair old;
  connectPair(&old);
  const std::string oldAlgorithm = congestionOf(old.client);
  const std::string other = oldAlgorithm == "reno" ? "cubic" : "reno";
  const auto before = socketInodes();

  Pair fresh;
  connectPair(&fresh);
  // Not a host of another center: nothing changes.
  CongestionResult none = setCongestionControl(other, before, {"10.99.0.1"});
  EXPECT_EQ(none.sockets, 0);
  EXPECT_EQ(congestionOf(fresh.client), oldAlgorithm);

  CongestionResult r = setCongestionControl(other, before, {"127.0.0.1"});
  EXPECT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.sockets, 2);  // both ends of the new connection; the listener has no peer
  EXPECT_EQ(congestionOf(fresh.client), other);
  EXPECT_EQ(congestionOf(fresh.server), other);
  // Sockets that existed before are someone else's.
  EXPECT_EQ(congestionOf(old.client), oldAlgorithm);
  EXPECT_EQ(congestionOf(old.server), oldAlgorithm);
}

TEST(TcpTuning, ChoosesBbrWhenAvailableAndRefusesUnknownNames) {
  unsetenv("ISTHMUS_TCP_CONGESTION");
  auto system = chooseTcpCongestion("system");
  ASSERT_TRUE(system.ok());
  EXPECT_EQ(*system, "system");

  auto unknown = chooseTcpCongestion("warp-drive");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("'warp-drive' is not available"), std::string::npos)
      << unknown.status().message();
  EXPECT_NE(unknown.status().message().find("reno"), std::string::npos)
      << unknown.status().message();

  auto dflt = chooseTcpCongestion("");
  ASSERT_TRUE(dflt.ok());
  EXPECT_TRUE(*dflt == "bbr" || *dflt == "system") << *dflt;

  setenv("ISTHMUS_TCP_CONGESTION", "system", 1);
  auto env = chooseTcpCongestion("reno");
  unsetenv("ISTHMUS_TCP_CONGESTION");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(*env, "system");  // the environment wins over the option
  auto reno = chooseTcpCongestion("reno");
  ASSERT_TRUE(reno.ok());
  EXPECT_EQ(*reno, "reno");
}

}  // namespace
}  // namespace isthmus::ucximpl
