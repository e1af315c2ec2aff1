// 16 client processes hammer one TCP store server process with set/get/add/compareSet/wait and
// check each other's results.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>
#include <vector>

#include "runtime/store/tcp_store.h"
#include "tests/harness/child_process.h"
#include "tests/multiproc/store/forked_server.h"

namespace isthmus {
namespace {

using testing::ChildProcess;

constexpr int kClients = 16;
constexpr int kAdds = 50;
constexpr int kCasIncrements = 10;

#define CHILD_CHECK(cond, ...)                                      \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::fprintf(stderr, "client %d: %s failed: %s\n", id, #cond, \
                   ::isthmus::strCat(__VA_ARGS__).c_str());         \
      return 1;                                                     \
    }                                                               \
  } while (0)

std::string valueOf(int id) { return strCat("value-of-", id, std::string(id * 37, 'x')); }

int clientBody(int id, uint16_t port) {
  auto client = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(20));
  CHILD_CHECK(client.ok(), client.status().toString());
  Store& store = **client;
  CHILD_CHECK(store.set(strCat("key/", id), valueOf(id)).ok(), "set");
  for (int i = 0; i < kAdds; ++i) {
    auto v = store.add("counter", 1);
    CHILD_CHECK(v.ok() && *v >= 1 && *v <= kClients * kAdds, v.status().toString());
  }
  // A counter built from compareSet alone: retries until this client's increment lands.
  // compareSet returns the current value on a miss: use it as the next guess. Values are
  // "<count>:<client>" so that "the key holds my value" means "my swap landed".
  std::string guess;
  for (int i = 0; i < kCasIncrements; ++i) {
    for (;;) {
      const int64_t count = guess.empty() ? 0 : std::stoll(guess.substr(0, guess.find(':')));
      const std::string next = strCat(count + 1, ":", id);
      auto after = store.compareSet("cas", guess, next);
      CHILD_CHECK(after.ok(), after.status().toString());
      guess = *after;
      if (*after == next) break;
    }
  }
  std::vector<std::string> keys;
  for (int j = 0; j < kClients; ++j) keys.push_back(strCat("key/", j));
  Status st = store.wait(keys, Deadline::afterSeconds(20));
  CHILD_CHECK(st.ok(), st.toString());
  for (int j = 0; j < kClients; ++j) {
    auto v = store.get(keys[j], Deadline::afterSeconds(5));
    CHILD_CHECK(v.ok() && *v == valueOf(j), "key/", j, " = ", v.ok() ? *v : v.status().toString());
  }
  st = storeBarrier(store, "done", kClients, Deadline::afterSeconds(20));
  CHILD_CHECK(st.ok(), st.toString());
  return 0;
}

TEST(TcpStoreMultiProc, SixteenConcurrentClientProcesses) {
  auto server = testing::forkStoreServer();
  ASSERT_NE(server.port, 0) << "store server process did not start";
  std::vector<ChildProcess> clients;
  for (int id = 0; id < kClients; ++id) {
    const uint16_t port = server.port;
    clients.push_back(ChildProcess::fork([id, port] { return clientBody(id, port); }));
  }
  for (int id = 0; id < kClients; ++id) {
    auto exit = clients[id].waitFor(45);
    EXPECT_EQ(exit.exitCode, 0) << "client " << id << ": " << exit.describe();
  }
  auto check = TcpStoreClient::connect("127.0.0.1", server.port, Deadline::afterSeconds(10));
  ASSERT_TRUE(check.ok()) << check.status().toString();
  EXPECT_EQ(*(*check)->add("counter", 0), kClients * kAdds);
  const std::string cas = *(*check)->get("cas", Deadline::afterSeconds(5));
  EXPECT_EQ(cas.substr(0, cas.find(':')), std::to_string(kClients * kCasIncrements)) << cas;
  EXPECT_EQ(*(*check)->add("barrier/done/count", 0), kClients);
}

TEST(TcpStoreMultiProc, ThreadsShareOneClientWithoutBlockingEachOther) {
  auto server = testing::forkStoreServer();
  ASSERT_NE(server.port, 0);
  auto client = TcpStoreClient::connect("127.0.0.1", server.port, Deadline::afterSeconds(10));
  ASSERT_TRUE(client.ok()) << client.status().toString();
  std::shared_ptr<Store> store(std::move(*client));
  // A thread blocked in wait() must not stop another thread's set() on the same client.
  Status waited;
  std::thread waiter([&] { waited = store->wait({"go"}, Deadline::afterSeconds(20)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(store->set("go", "1").ok());
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited.toString();
}

}  // namespace
}  // namespace isthmus
