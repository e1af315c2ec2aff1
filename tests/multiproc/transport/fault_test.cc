// Acceptance 4, with real processes (fork, TCP store): a peer killed with SIGKILL mid-transfer
// fails the survivors' pending operations with kPeerLost naming it within deadline + 2 s while
// the survivors keep talking to each other; a peer stopped with SIGSTOP is declared lost by the
// keep-alive; a payload byte flipped in flight (test hook) is kCorrupt naming the sender.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "runtime/store/tcp_store.h"
#include "tests/harness/child_process.h"
#include "tests/multiproc/transport/transport_test_util.h"

namespace isthmus {
namespace {

using testing::ChildProcess;

constexpr size_t kMessage = 64u << 20;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<Store> connectStore(uint16_t port) {
  auto c = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(20));
  if (!c.ok()) {
    std::fprintf(stderr, "store: %s\n", c.status().toString().c_str());
    return nullptr;
  }
  return std::shared_ptr<Store>(std::move(*c));
}

// Rank 1 of 3: streams 64 MiB messages to ranks 0 and 2 until it is killed.
int streamer(uint16_t port) {
  auto store = connectStore(port);
  if (!store) return 2;
  auto t = UcxTransport::create(testing::baseOptions(1, 3, store), Deadline::afterSeconds(30));
  if (!t.ok()) {
    std::fprintf(stderr, "rank 1: %s\n", t.status().toString().c_str());
    return 3;
  }
  std::vector<uint8_t> buf(kMessage, 0x11);
  (void)store->set("streaming", "1");
  for (uint64_t k = 0;; ++k) {
    auto a = (*t)->isend(0, k, buf.data(), buf.size(), Deadline::afterSeconds(60));
    auto b = (*t)->isend(2, k, buf.data(), buf.size(), Deadline::afterSeconds(60));
    if (!a->wait(Deadline::afterSeconds(60)).ok() || !b->wait(Deadline::afterSeconds(60)).ok()) {
      return 4;
    }
  }
}

// A survivor's part: receive messages from rank 1 until one fails; returns that status and the
// steady-clock time it failed.
Status receiveUntilLost(UcxTransport& t, double deadlineSeconds, int64_t* failedAt,
                        uint64_t* received) {
  std::vector<uint8_t> buf(kMessage);
  for (uint64_t k = 0;; ++k) {
    auto r = t.irecv(1, k, buf.data(), buf.size(), Deadline::afterSeconds(deadlineSeconds));
    // A second pending receive that is never matched: it must fail too.
    auto never = t.irecv(1, 1000000 + k, buf.data(), 16, Deadline::afterSeconds(deadlineSeconds));
    Status st = r->wait(Deadline::afterSeconds(deadlineSeconds + 5));
    if (!st.ok()) {
      *failedAt = nowNs();
      *received = k;
      Status other = never->wait(Deadline::afterSeconds(5));
      if (other.code() != StatusCode::kPeerLost) {
        return internalError("the unmatched receive ended with ", other.toString());
      }
      return st;
    }
    // While rank 1 lives, each round leaves one unmatched receive posted (distinct tags); the
    // one of the round in which rank 1 dies is checked above.
    if (k > 1000) return internalError("rank 1 never died");
  }
}

int survivor2(uint16_t port) {
  auto store = connectStore(port);
  if (!store) return 2;
  auto t = UcxTransport::create(testing::baseOptions(2, 3, store), Deadline::afterSeconds(30));
  if (!t.ok()) return 3;
  int64_t failedAt = 0;
  uint64_t received = 0;
  Status st = receiveUntilLost(**t, 10.0, &failedAt, &received);
  auto killedAt = store->get("killed_at_ns", Deadline::afterSeconds(10));
  double latency = killedAt.ok() ? (failedAt - std::stoll(*killedAt)) / 1e9 : -1;
  (void)store->set("rank2_result", strCat(st.toString(), " | detected ", latency,
                                          " s after SIGKILL, after ", received, " messages"));
  if (st.code() != StatusCode::kPeerLost || st.message().find("rank 1") == std::string::npos) {
    return 5;
  }
  if (latency < 0 || latency > 12.0) return 6;
  // The survivors still talk to each other.
  std::vector<uint8_t> msg(1 << 20);
  testing::fillPattern(msg, 2, 0, 77);
  auto s = (*t)->isend(0, 77, msg.data(), msg.size(), Deadline::afterSeconds(10));
  if (!s->wait(Deadline::afterSeconds(10)).ok()) return 7;
  (void)store->get("done", Deadline::afterSeconds(20));
  return 0;
}

TEST(Faults, SigkillMidTransferIsPeerLostOnEverySurvivor) {
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status().toString();
  uint16_t port = (*server)->port();
  ChildProcess rank1 = ChildProcess::fork([port] { return streamer(port); });
  ChildProcess rank2 = ChildProcess::fork([port] { return survivor2(port); });

  auto store = connectStore(port);
  ASSERT_TRUE(store);
  auto t = UcxTransport::create(testing::baseOptions(0, 3, store), Deadline::afterSeconds(30));
  ASSERT_TRUE(t.ok()) << t.status().toString();

  const double deadlineSeconds = 10.0;
  std::vector<uint8_t> buf(kMessage);
  // Receive two whole messages, then kill rank 1 while the third is in flight.
  for (uint64_t k = 0; k < 2; ++k) {
    auto r = (*t)->irecv(1, k, buf.data(), buf.size(), Deadline::afterSeconds(deadlineSeconds));
    ASSERT_TRUE(r->wait(Deadline::afterSeconds(20)).ok());
  }
  auto pending = (*t)->irecv(1, 2, buf.data(), buf.size(), Deadline::afterSeconds(deadlineSeconds));
  auto unmatched = (*t)->irecv(1, 424242, buf.data(), 16, Deadline::afterSeconds(deadlineSeconds));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  bool midTransfer = !pending->test();
  auto killedAt = nowNs();
  rank1.kill(SIGKILL);
  ASSERT_TRUE(store->set("killed_at_ns", std::to_string(killedAt)).ok());

  Status st = pending->wait(Deadline::afterSeconds(deadlineSeconds + 5));
  double latency = (nowNs() - killedAt) / 1e9;
  EXPECT_EQ(st.code(), StatusCode::kPeerLost) << st.toString();
  EXPECT_NE(st.message().find("rank 1"), std::string::npos) << st.toString();
  EXPECT_LE(latency, deadlineSeconds + 2.0);
  Status st2 = unmatched->wait(Deadline::afterSeconds(5));
  EXPECT_EQ(st2.code(), StatusCode::kPeerLost) << st2.toString();
  std::printf("rank 0: %s | detected %.3f s after SIGKILL (killed mid-transfer: %s)\n",
              st.toString().c_str(), latency, midTransfer ? "yes" : "no");

  // Rank 2 survived too and still reaches us.
  std::vector<uint8_t> msg(1 << 20);
  auto r = (*t)->irecv(2, 77, msg.data(), msg.size(), Deadline::afterSeconds(20));
  EXPECT_TRUE(r->wait(Deadline::afterSeconds(20)).ok());
  EXPECT_EQ(testing::checkPattern(msg, 2, 0, 77), -1);
  ASSERT_TRUE(store->set("done", "1").ok());
  auto e2 = rank2.waitFor(30);
  auto result2 = store->get("rank2_result", Deadline::afterSeconds(1));
  std::printf("rank 2: %s\n", result2.ok() ? result2->c_str() : "(no result)");
  EXPECT_EQ(e2.exitCode, 0) << e2.describe() << " " << (result2.ok() ? *result2 : "");
  rank1.waitFor(5);
}

TEST(Faults, StoppedPeerIsLostByKeepAlive) {
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  ChildProcess child = ChildProcess::fork([port] {
    auto store = connectStore(port);
    if (!store) return 2;
    auto o = testing::baseOptions(1, 2, store);
    o.peerTimeoutSeconds = 2.0;
    auto t = UcxTransport::create(o, Deadline::afterSeconds(30));
    if (!t.ok()) return 3;
    (void)store->set("ready", "1");
    (void)store->get("done", Deadline::afterSeconds(60));
    return 0;
  });
  auto store = connectStore(port);
  auto o = testing::baseOptions(0, 2, store);
  o.keepaliveSeconds = 0.5;
  o.peerTimeoutSeconds = 2.0;
  auto t = UcxTransport::create(o, Deadline::afterSeconds(30));
  ASSERT_TRUE(t.ok()) << t.status().toString();
  ASSERT_TRUE(store->get("ready", Deadline::afterSeconds(10)).ok());
  std::vector<uint8_t> buf(1000);
  auto r = (*t)->irecv(1, 5, buf.data(), buf.size(), Deadline::afterSeconds(10));
  child.kill(SIGSTOP);
  auto stoppedAt = nowNs();
  Status st = r->wait(Deadline::afterSeconds(15));
  double latency = (nowNs() - stoppedAt) / 1e9;
  child.kill(SIGKILL);
  EXPECT_EQ(st.code(), StatusCode::kPeerLost) << st.toString();
  EXPECT_NE(st.message().find("rank 1"), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("silent for"), std::string::npos) << st.toString();
  EXPECT_LE(latency, 10.0 + 2.0);
  std::printf("SIGSTOP: %s | detected %.3f s after the stop\n", st.toString().c_str(), latency);
  child.waitFor(5);
}

TEST(Faults, FlippedPayloadByteIsCorruptNamingTheSender) {
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok());
  uint16_t port = (*server)->port();
  ChildProcess child = ChildProcess::fork([port] {
    auto store = connectStore(port);
    if (!store) return 2;
    auto o = testing::baseOptions(1, 2, store);
    o.rndvChunkBytes = 1u << 20;  // four chunks per message: the hook flips the third
    auto t = UcxTransport::create(o, Deadline::afterSeconds(30));
    if (!t.ok()) return 3;
    std::vector<uint8_t> a(4u << 20), b(4u << 20);
    testing::fillPattern(a, 1, 0, 1);
    testing::fillPattern(b, 1, 0, 2);
    auto s1 = (*t)->isend(0, 1, a.data(), a.size(), Deadline::afterSeconds(20));
    auto s2 = (*t)->isend(0, 2, b.data(), b.size(), Deadline::afterSeconds(20));
    if (!s1->wait(Deadline::afterSeconds(20)).ok() || !s2->wait(Deadline::afterSeconds(20)).ok()) {
      return 4;
    }
    (void)store->get("done", Deadline::afterSeconds(30));
    return 0;
  });
  auto store = connectStore(port);
  auto o = testing::baseOptions(0, 2, store);
  o.testHooks.flipPayloadByteOfChunk = 2;  // the third chunk received (of tag 1's four)
  auto t = UcxTransport::create(o, Deadline::afterSeconds(30));
  ASSERT_TRUE(t.ok()) << t.status().toString();
  std::vector<uint8_t> a(4u << 20), b(4u << 20);
  auto r1 = (*t)->irecv(1, 1, a.data(), a.size(), Deadline::afterSeconds(20));
  Status st = r1->wait(Deadline::afterSeconds(20));
  EXPECT_EQ(st.code(), StatusCode::kCorrupt) << st.toString();
  EXPECT_NE(st.message().find("rank 1"), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("CRC32C"), std::string::npos) << st.toString();
  std::printf("flipped byte: %s\n", st.toString().c_str());
  // The connection survives: the next message arrives intact.
  auto r2 = (*t)->irecv(1, 2, b.data(), b.size(), Deadline::afterSeconds(20));
  EXPECT_TRUE(r2->wait(Deadline::afterSeconds(20)).ok());
  EXPECT_EQ(testing::checkPattern(b, 1, 0, 2), -1);
  ASSERT_TRUE(store->set("done", "1").ok());
  EXPECT_EQ(child.waitFor(30).exitCode, 0);
}

}  // namespace
}  // namespace isthmus
