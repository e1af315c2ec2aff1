// Issue 6, acceptance 4: a rank killed (SIGKILL) in the middle of an allreduce. Every survivor's
// wait() must return kPeerLost naming the dead rank within the collective's deadline + 2 s, and
// the launcher must exit non-zero. Survivors ignore the launcher's SIGTERM (it sends SIGKILL 3 s
// later) so they can report what their wait() returned.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "collectives/communicator.h"
#include "tests/harness/multiproc.h"

namespace isthmus {
namespace {

constexpr double kTimeoutSeconds = 10;
constexpr int kVictim = 3;

TEST(CollectivesFault, RankKilledMidAllreduceIsReportedAsPeerLost) {
  if (testing::isChild()) {
    signal(SIGTERM, SIG_IGN);
    coll::CommunicatorOptions opt;
    opt.timeoutSeconds = kTimeoutSeconds;
    opt.pipelineChunkBytes = 256 << 10;  // many chunks: the allreduce is well under way
    auto comm = coll::Communicator::fromEnv(opt);
    ASSERT_TRUE(comm.ok()) << comm.status().toString();
    // Warm up so every connection is up before the kill.
    std::vector<float> small(1024, 1.0f);
    ASSERT_TRUE((*comm)
                    ->allreduce(BufferView{small.data(), small.size()}, coll::ReduceOp::kSum, {})
                    ->wait(Deadline::afterSeconds(30))
                    .ok());
    std::vector<float> x(64u << 20, 1.0f);  // 256 MiB
    const int me = (*comm)->rank();
    // The launcher stops the other ranks (SIGTERM) as soon as the victim dies; survivors must
    // live long enough to report what their own wait() returned.
    signal(SIGTERM, SIG_IGN);
    if (me == kVictim) {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        std::printf("VICTIM rank %d killing itself mid-allreduce\n", kVictim);
        std::fflush(stdout);
        raise(SIGKILL);
      }).detach();
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto w = (*comm)->allreduce(BufferView{x.data(), x.size()}, coll::ReduceOp::kSum, {});
    Status s = w->wait(Deadline::afterSeconds(60));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool names = s.message().find(strCat("rank ", kVictim)) != std::string::npos;
    const bool ok = s.code() == StatusCode::kPeerLost && names && elapsed <= kTimeoutSeconds + 2;
    std::printf("SURVIVOR rank %d %s after %.2f s: %s\n", me, ok ? "OK" : "BAD", elapsed,
                s.toString().c_str());
    std::fflush(stdout);
    // A survivor that left at once would look like a second lost peer to a slower survivor:
    // linger so every survivor's own verdict is about the victim, then leave without tearing down.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    _exit(ok ? 0 : 1);
  }
  auto r = testing::runThisTestUnderLauncher({"--centers", "2", "--ranks-per-center", "2"}, 90, {},
                                             {"ISTHMUS_JOB_SECRET=collectives-fault-test"});
  std::printf("launcher: %s\n", r.describe().c_str());
  EXPECT_NE(r.exitCode, 0) << r.output;
  size_t ok = 0;
  for (size_t p = 0; (p = r.output.find("SURVIVOR rank", p)) != std::string::npos; ++p) {
    size_t eol = r.output.find('\n', p);
    std::string line = r.output.substr(p, eol - p);
    std::printf("%s\n", line.c_str());
    if (line.find(" OK ") != std::string::npos) ++ok;
  }
  EXPECT_EQ(ok, 3u) << r.output;
  EXPECT_NE(r.output.find("VICTIM"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace isthmus
