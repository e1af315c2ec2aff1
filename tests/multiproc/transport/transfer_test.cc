// Transfers over the UCX transport between ranks running as threads of one process (loopback
// TCP): many sizes and lane counts, overlapping operations, sends before receives, sends to self,
// size mismatches, deadlines and abort().
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/multiproc/transport/transport_test_util.h"

namespace isthmus {
namespace {

using testing::checkPattern;
using testing::fillPattern;
using testing::makeGroup;

struct Case {
  int size;
  int lanes;
  size_t chunk;
  bool eager = false;  // chunks by UCX's eager protocol (the WAN default) instead of rendezvous
};

class Transfer : public ::testing::TestWithParam<Case> {};

TEST_P(Transfer, AllPairsManySizesOverlapped) {
  const Case c = GetParam();
  auto group = makeGroup(c.size, [&](UcxTransportOptions& o) {
    o.defaultLink.lanes = c.lanes;
    o.defaultLink.windowBytesPerLane = 4 * c.chunk;
    o.chunkBytes = c.chunk;
    o.rndvChunkBytes = c.chunk;
    o.defaultLink.eager = c.eager;
  });
  for (int r = 0; r < c.size; ++r) ASSERT_TRUE(group[r].ok()) << group[r].status().toString();
  const std::vector<size_t> sizes = {0, 1, 4095, 4096, 65537, c.chunk * 3 + 17, (8u << 20) + 5};
  std::vector<std::thread> threads;
  std::vector<std::string> errors(c.size);
  for (int r = 0; r < c.size; ++r) {
    threads.emplace_back([&, r] {
      Transport& t = **group[r];
      std::vector<std::vector<uint8_t>> sendBufs, recvBufs;
      std::vector<std::shared_ptr<Request>> reqs;
      std::vector<std::tuple<int, uint64_t, size_t>> recvInfo;
      auto deadline = Deadline::afterSeconds(60);
      // Receives first for even ranks, sends first for odd ones: both orders get exercised.
      for (int pass = 0; pass < 2; ++pass) {
        bool doSends = (pass == 0) == (r % 2 == 1);
        for (int peer = 0; peer < c.size; ++peer) {
          for (size_t s = 0; s < sizes.size(); ++s) {
            if (doSends) {
              uint64_t tag = makeTag(s, static_cast<uint32_t>(peer));
              sendBufs.emplace_back(sizes[s]);
              fillPattern(sendBufs.back(), r, peer, tag);
              reqs.push_back(t.isend(peer, tag, sendBufs.back().data(), sizes[s], deadline));
            } else {
              uint64_t tag = makeTag(s, static_cast<uint32_t>(r));
              recvBufs.emplace_back(sizes[s]);
              recvInfo.emplace_back(peer, tag, recvBufs.size() - 1);
              reqs.push_back(t.irecv(peer, tag, recvBufs.back().data(), sizes[s], deadline));
            }
          }
        }
      }
      for (auto& q : reqs) {
        Status st = q->wait(deadline);
        if (!st.ok()) errors[r] += st.toString() + "\n";
      }
      for (auto& [peer, tag, idx] : recvInfo) {
        int64_t bad = checkPattern(recvBufs[idx], peer, r, tag);
        if (bad >= 0) {
          errors[r] += strCat("rank ", r, " from ", peer, " tag ", tag, " size ",
                              recvBufs[idx].size(), ": wrong byte at ", bad, "\n");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int r = 0; r < c.size; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
  EXPECT_NE((*group[0])->describe().find("lanes"), std::string::npos) << (*group[0])->describe();
}

INSTANTIATE_TEST_SUITE_P(LanesAndChunks, Transfer,
                         ::testing::Values(Case{2, 1, 1u << 20}, Case{2, 4, 64u << 10},
                                           Case{3, 2, 256u << 10}, Case{2, 16, 1u << 20},
                                           Case{2, 4, 64u << 10, true}, Case{3, 3, 1u << 20, true}),
                         [](const auto& info) {
                           return strCat("ranks", info.param.size, "_lanes", info.param.lanes,
                                         "_chunk", info.param.chunk >> 10, "k",
                                         info.param.eager ? "_eager" : "_rndv");
                         });

TEST(TransferErrors, SizeMismatchIsCorruptNamingThePeer) {
  auto group = makeGroup(2, nullptr);
  ASSERT_TRUE(group[0].ok() && group[1].ok());
  std::vector<uint8_t> a(1000), b(999);
  auto s = (*group[0])->isend(1, 5, a.data(), a.size(), Deadline::afterSeconds(10));
  auto r = (*group[1])->irecv(0, 5, b.data(), b.size(), Deadline::afterSeconds(10));
  Status st = r->wait(Deadline::afterSeconds(20));
  EXPECT_EQ(st.code(), StatusCode::kCorrupt) << st.toString();
  EXPECT_NE(st.message().find("rank 0"), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("1000 bytes"), std::string::npos) << st.toString();
}

TEST(TransferErrors, ReceiveDeadlineIsTimeoutAndAbortWakesWaiters) {
  auto group = makeGroup(2, nullptr);
  ASSERT_TRUE(group[0].ok() && group[1].ok());
  std::vector<uint8_t> buf(100);
  auto start = std::chrono::steady_clock::now();
  auto r = (*group[1])->irecv(0, 1, buf.data(), buf.size(), Deadline::afterSeconds(0.5));
  Status st = r->wait(Deadline::afterSeconds(10));
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(st.code(), StatusCode::kTimeout) << st.toString();
  EXPECT_LT(took, 2.0);

  // abort() wakes a waiter blocked on an operation with no deadline, from another thread.
  auto pending = (*group[1])->irecv(0, 2, buf.data(), buf.size(), Deadline::infinite());
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (*group[1])->abort(abortedError("test abort"));
  });
  st = pending->wait(Deadline::afterSeconds(10));
  aborter.join();
  EXPECT_EQ(st.code(), StatusCode::kAborted) << st.toString();
  auto after = (*group[1])->isend(0, 3, buf.data(), buf.size(), Deadline::afterSeconds(1));
  EXPECT_TRUE(after->test());
  EXPECT_EQ(after->status().code(), StatusCode::kAborted);
  // wait() with a short deadline on a running op returns kTimeout and leaves it running.
  auto slow = (*group[0])->irecv(1, 9, buf.data(), buf.size(), Deadline::afterSeconds(30));
  EXPECT_EQ(slow->wait(Deadline::afterSeconds(0.05)).code(), StatusCode::kTimeout);
  EXPECT_FALSE(slow->test());
}

// setSendRate paces a peer's bytes: 32 MiB at 16 MiB/s cannot arrive in much less than 2 s
// (a lower bound only, which a slow host cannot break), the data arrives intact, and after
// setSendRate(peer, 0) the same transfer is no longer held back.
TEST(TransferPacing, SendRateHoldsBytesBackAndZeroLiftsIt) {
  auto group = makeGroup(2, nullptr);
  ASSERT_TRUE(group[0].ok() && group[1].ok());
  const size_t bytes = 32u << 20;
  const double rate = 16.0 * (1 << 20);
  std::vector<uint8_t> out(bytes), in(bytes);
  fillPattern(out, 0, 1, 7);
  auto transfer = [&](uint64_t tag) {
    auto start = std::chrono::steady_clock::now();
    auto r = (*group[1])->irecv(0, tag, in.data(), in.size(), Deadline::afterSeconds(60));
    auto s = (*group[0])->isend(1, tag, out.data(), out.size(), Deadline::afterSeconds(60));
    EXPECT_TRUE(s->wait(Deadline::afterSeconds(60)).ok());
    EXPECT_TRUE(r->wait(Deadline::afterSeconds(60)).ok());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  (*group[0])->setSendRate(1, rate);
  const double paced = transfer(7);
  EXPECT_EQ(checkPattern(in, 0, 1, 7), -1);
  // The bucket starts full (one 4 MiB chunk here) and a chunk may borrow what it lacks, so the
  // first two chunks go at once.
  const double floor = (bytes - (8u << 20)) / rate;
  EXPECT_GE(paced, floor) << "32 MiB at 16 MiB/s took " << paced << " s";
  (*group[0])->setSendRate(1, 0);
  std::fill(in.begin(), in.end(), 0);
  transfer(8);
  fillPattern(out, 0, 1, 7);
  EXPECT_EQ(checkPattern(in, 0, 1, 7), -1);
}

TEST(TransferErrors, SelfSendAndSingleRankGroup) {
  auto group = makeGroup(1, nullptr);
  ASSERT_TRUE(group[0].ok()) << group[0].status().toString();
  std::vector<uint8_t> a(5000), b(5000);
  fillPattern(a, 0, 0, 4);
  auto r = (*group[0])->irecv(0, 4, b.data(), b.size(), Deadline::afterSeconds(5));
  auto s = (*group[0])->isend(0, 4, a.data(), a.size(), Deadline::afterSeconds(5));
  EXPECT_TRUE(s->wait(Deadline::afterSeconds(5)).ok());
  EXPECT_TRUE(r->wait(Deadline::afterSeconds(5)).ok());
  EXPECT_EQ(checkPattern(b, 0, 0, 4), -1);
}

TEST(TransferErrors, CpuGroupInsideACenter) {
  auto store = makeHashStore();
  std::vector<Result<std::unique_ptr<UcxTransport>>> g;
  g.emplace_back(internalError("x"));
  g.emplace_back(internalError("x"));
  std::thread t0([&] {
    g[0] =
        UcxTransport::createCpuGroup(testing::baseOptions(0, 2, store), Deadline::afterSeconds(20));
  });
  g[1] =
      UcxTransport::createCpuGroup(testing::baseOptions(1, 2, store), Deadline::afterSeconds(20));
  t0.join();
  ASSERT_TRUE(g[0].ok() && g[1].ok()) << g[0].status().toString() << g[1].status().toString();
  std::vector<uint8_t> a(3u << 20), b(3u << 20);
  fillPattern(a, 1, 0, 8);
  auto r = (*g[0])->irecv(1, 8, b.data(), b.size(), Deadline::afterSeconds(10));
  auto s = (*g[1])->isend(0, 8, a.data(), a.size(), Deadline::afterSeconds(10));
  EXPECT_TRUE(s->wait(Deadline::afterSeconds(10)).ok());
  EXPECT_TRUE(r->wait(Deadline::afterSeconds(10)).ok());
  EXPECT_EQ(checkPattern(b, 1, 0, 8), -1);
  EXPECT_NE((*g[0])->describe().find("errmode=none"), std::string::npos);
}

}  // namespace
}  // namespace isthmus
